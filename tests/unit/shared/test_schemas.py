from pathlib import Path

from shared.platform.schemas import render_schemas

SCHEMAS = Path(__file__).parents[3] / "schemas"


def test_committed_schemas_match_the_code() -> None:
    rendered = render_schemas()
    stale = [
        p
        for p, text in rendered.items()
        if not (SCHEMAS / p).exists() or (SCHEMAS / p).read_text() != text
    ]
    extra = {str(p.relative_to(SCHEMAS)) for p in SCHEMAS.rglob("*.json")} - set(rendered)
    assert not stale, f"schemas/ is out of date, run `pillars schemas`: {stale}"
    assert not extra, f"schemas/ has files the code no longer generates: {extra}"


def test_every_service_documents_its_channels() -> None:
    rendered = render_schemas()
    assert '"pillars.predictions.v1"' in rendered["asyncapi/inference.json"]
    assert '"pillars.chunks.v1"' in rendered["asyncapi/embedding.json"]
