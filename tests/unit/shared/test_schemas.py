from pathlib import Path

from shared.contracts.schemas import topic_table
from shared.contracts.topics import CONSUMED_BY, topic_name
from shared.kit.settings import PillarsSettings
from shared.platform.schemas import render_schemas, service_apps, settings_for, write_topic_table

BASE = PillarsSettings(kafka_bootstrap_servers="localhost:9092", database_url="postgresql://x/y")

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


def test_the_readme_topic_table_is_the_topic_map() -> None:
    readme = Path(__file__).parents[3] / "README.md"
    assert not write_topic_table(readme, check=True), (
        "README's topic table differs from shared/contracts/topics.py: run `pillars schemas`"
    )
    assert "| `requests.embedded` | embedding | inference, evaluator |" in topic_table()


def test_every_service_subscribes_exactly_to_what_the_topic_map_says() -> None:
    for service, create_app in service_apps().items():
        app = create_app(settings_for(create_app, BASE))
        subscribed = {str(getattr(t, "name", t)) for s in app.broker.subscribers for t in s.topics}
        mapped = {topic_name(t) for t in CONSUMED_BY.get(service, ())}
        assert subscribed == mapped, service
