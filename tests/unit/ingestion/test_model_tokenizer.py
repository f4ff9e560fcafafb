"""The real tokenizer of the packaged model (no torch involved, a file read only)."""

from services.ingestion.adapters.model_tokenizer import ModelTokenizer
from services.ingestion.chunking import split_passages
from shared.encoders.model_folder import max_sequence_length, packaged_model_path

TEXT = (
    "JSON (JavaScript Object Notation) is a lightweight data interchange format. "
    "json.dumps serializes obj to a JSON formatted str. "
    * 40
    + "\n\n"
    + "Supercalifragilisticexpialidocious" * 60
)


def test_chunks_fit_the_models_window_in_its_own_tokens() -> None:
    folder = packaged_model_path()
    tokens = ModelTokenizer(folder)
    assert max_sequence_length(folder) == 256
    passages = split_passages(TEXT, tokens=tokens, size=120, overlap=20)
    counts = tokens.count(passages)
    assert len(passages) > 3
    assert max(counts) <= 120
    assert counts[0] > 100  # packed, not one sentence a chunk
    assert passages == split_passages(TEXT, tokens=tokens, size=120, overlap=20)


def test_counts_are_not_truncated_at_the_files_128() -> None:
    tokens = ModelTokenizer(packaged_model_path())
    [count] = tokens.count(["word " * 300])
    assert count == 300
