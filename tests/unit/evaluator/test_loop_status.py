"""What people read of the loop: `pillars loop status`'s lineage and the timeline that
`pillars report` gains (text and HTML)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.evaluator.config import LoopModel
from services.evaluator.loop.status import format_lineage
from services.evaluator.report import ReportView, format_table, render_html
from shared.contracts.events import LoopDecision
from shared.models.registry import ModelRecord

pytestmark = pytest.mark.loop

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DECIDED = uuid.uuid4()


def step(
    minute: int, name: str, version: int | None, reason: str, **figures: float
) -> LoopDecision:
    return LoopDecision(
        tenant="platform",
        occurred_at=T0 + timedelta(minutes=minute),
        model="sentiment",
        step=name,  # type: ignore[arg-type]
        candidate_version=version,
        production_version=1,
        reason=reason,
        figures=figures,
        evaluation_id=DECIDED if name == "promoted" else None,
    )


STEPS = [
    step(0, "triggered", None, "600 new labels since the last training", new_labels=600),
    step(5, "trained", 2, "v2 registered from labels feedback of tenant acme: 600 rows"),
    step(5, "shadowing", 2, "macro-F1 0.820 vs production 0.800: not worse", holdout_n=120),
    step(20, "challenging", 2, "200 labelled shadow answers", share=0.1),
    step(
        50,
        "promoted",
        2,
        "v2 wins on accuracy",
        p_value=0.004,
        effect=0.06,
        ci_low=0.02,
        ci_high=0.1,
    ),
]


def record(version: int, stage: str, data: str) -> ModelRecord:
    return ModelRecord(
        name="sentiment",
        version=version,
        artifact="/m.skops",
        format="skops",
        licence="x",
        training_data=data,
        stage=stage,  # type: ignore[arg-type]
    )


def test_the_lineage_names_each_version_its_labels_its_gate_and_its_verdict() -> None:
    text = format_lineage(
        "sentiment",
        LoopModel(name="sentiment", tenant="acme", experiment="reviews"),
        [
            record(1, "archived", "rotten-tomatoes: 200 snippets"),
            record(2, "production", "feedback"),
        ],
        STEPS,
    )
    assert text.startswith("model sentiment: logreg on tenant acme's labels, experiment reviews")
    assert "now: idle" in text
    assert "v1   archived   trained on rotten-tomatoes: 200 snippets" in text
    assert "v2   production trained on feedback" in text
    assert "offline gate passed 2026-12-01 09:05:00: macro-F1 0.820" in text
    assert "promoted 2026-12-01 09:50:00: v2 wins on accuracy" in text
    assert "p 0.004" in text
    assert "CI [+0.0200, +0.1000]" in text
    assert f"[evaluation {DECIDED}]" in text
    assert text.count("\n    2026-12-01") == len(STEPS)  # every step, in order


def test_a_model_in_flight_says_where_it_stands() -> None:
    text = format_lineage("sentiment", None, [], STEPS[:4])
    assert "now: challenging v2 since 2026-12-01 09:20:00" in text
    assert "challenging at 10% of the production arm's traffic" in text


def test_the_report_gains_the_loop_s_timeline() -> None:
    view = ReportView.of([], list(reversed(STEPS)))
    table = format_table(view)
    assert table.splitlines()[0] == "loop (every step, oldest first):"
    assert table.index("triggered") < table.index("promoted")
    page = render_html(view, T0)
    assert "<section data-loop>" in page
    assert page.count("<tr data-step=") == len(STEPS)
    assert str(DECIDED) in page
