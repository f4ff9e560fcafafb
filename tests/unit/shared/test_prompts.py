import uuid

from shared.contracts.events import RetrievedChunk
from shared.generators.prompts import fill_prompt, numbered_passages


def test_placeholders_fill_in_one_pass() -> None:
    filled = fill_prompt("{passages}|{query}|{other}", passages="says {query}", query="q {x}")
    # An inserted passage that happens to contain `{query}` stays as it was written.
    assert filled == "says {query}|q {x}|{other}"
    assert fill_prompt("no {fields}") == "no {fields}"


def test_passages_are_numbered_from_one() -> None:
    sources = [
        RetrievedChunk(chunk_id=uuid.UUID(int=i), document_id="d", text=t, score=1.0)
        for i, t in enumerate(("first", "second"))
    ]
    assert numbered_passages(sources) == "[1] first\n[2] second"
    assert numbered_passages([]) == ""
