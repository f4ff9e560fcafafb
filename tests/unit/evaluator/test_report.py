"""`pillars report`'s table and HTML page from a history of evaluations."""

from __future__ import annotations

from datetime import timedelta

from services.evaluator.report import PLOTTED, ReportView, format_table, render_html
from shared.contracts.events import ABVerdict, ArmMetrics, Evaluation, utcnow


def history() -> list[Evaluation]:
    start = utcnow() - timedelta(minutes=10)
    out = []
    for minute, (ctr_a, ctr_b) in enumerate(((0.10, 0.12), (0.11, 0.14), (0.10, 0.15))):
        at = start + timedelta(minutes=minute)
        for variant, ctr in (("control", ctr_a), ("bigger-k", ctr_b)):
            for window in ("cumulative", "sliding"):
                metrics = ArmMetrics(
                    window=window, predictions=1000 * (minute + 1), ctr=ctr, latency_p95_ms=80.0
                )
                out.append(
                    Evaluation(
                        occurred_at=at,
                        tenant="platform",
                        kind="arm_metrics",
                        subject="depth",
                        experiment="depth",
                        variant=variant,
                        metrics=metrics,
                    )
                )
    verdict = ABVerdict(
        metric="ctr",
        control="control",
        treatment="bigger-k",
        effect=0.05,
        relative_effect=0.5,
        ci_low=0.02,
        ci_high=0.08,
        p_value=0.001,
        decision="winner",
        winner="bigger-k",
        n_control=3000,
        n_treatment=3000,
    )
    out.append(
        Evaluation(
            tenant="platform",
            kind="ab_decision",
            subject="depth",
            experiment="depth",
            variant="bigger-k",
            verdict=verdict,
        )
    )
    return out


def test_table_shows_the_latest_metrics_per_arm_and_the_verdicts() -> None:
    text = format_table(ReportView.of(history()))
    assert "experiment depth" in text
    rows = [line for line in text.splitlines() if line.startswith("bigger-k")]
    assert len(rows) == 2  # cumulative and sliding
    assert "15.0%" in rows[0]  # the latest CTR, not an older one
    assert "3000" in rows[0]
    assert "bigger-k wins" in text
    assert "CI [+0.02, +0.08]" in text


def test_html_plots_each_arm_over_time_and_lists_verdicts() -> None:
    page = render_html(ReportView.of(history()), utcnow())
    for metric in PLOTTED:
        assert f'data-metric="{metric}"' in page
    ctr_plot = page.split('data-metric="ctr"')[1].split("</svg>")[0]
    assert ctr_plot.count("<polyline") == 2  # one line per arm
    control_line = ctr_plot.split('data-arm="control"')[1].split("/>")[0]
    assert control_line.count(",") == 3  # three reports, three points
    assert "class='winner'>bigger-k wins" in page
    assert "<script" not in page  # self-contained and static


def test_nothing_reported_yet() -> None:
    view = ReportView.of([])
    assert "no reports yet" in format_table(view)
    assert "No reports yet." in render_html(view, utcnow())
