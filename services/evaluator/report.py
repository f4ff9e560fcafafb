"""`pillars report`: the evaluator's reports as a per-arm table and an HTML page with plots.

The page is one self-contained file (inline SVG, no scripts, nothing fetched): each
experiment's metrics over time per arm, the latest metrics, and the A/B verdicts.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.evaluator.loop.timeline import timeline_html, timeline_lines
from shared.contracts.events import ABVerdict, ArmMetrics, Evaluation, LoopDecision

__all__ = ["PLOTTED", "ReportView", "format_table", "render_html"]

# (metric, label, format) of the table and the plots
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("predictions", "predictions", "{:.0f}"),
    ("ctr", "CTR", "{:.1%}"),
    ("conversion_rate", "conversion", "{:.1%}"),
    ("mean_rating", "rating", "{:.2f}"),
    ("csat", "CSAT", "{:.0%}"),
    ("accuracy", "accuracy", "{:.3f}"),
    ("macro_f1", "macro F1", "{:.3f}"),
    ("mean_relevance", "relevance", "{:.3f}"),
    ("mean_groundedness", "grounded", "{:.2f}"),
    ("mean_judge_score", "judge", "{:.2f}"),
    ("latency_p50_ms", "p50 ms", "{:.0f}"),
    ("latency_p95_ms", "p95 ms", "{:.0f}"),
    ("latency_p99_ms", "p99 ms", "{:.0f}"),
    ("cost_usd", "cost $", "{:.4f}"),
)
PLOTTED = ("ctr", "mean_rating", "accuracy", "mean_relevance", "latency_p95_ms")
_COLOURS = ("#4f7cff", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#2e4057")


@dataclass(frozen=True)
class ReportView:
    """The reports, arranged: series per experiment and arm, the latest metrics, verdicts."""

    series: dict[str, dict[str, list[tuple[datetime, ArmMetrics]]]]
    latest: dict[tuple[str, str, str], ArmMetrics]  # (experiment, variant, window)
    verdicts: dict[tuple[str, str, str], ABVerdict]  # (experiment, metric, treatment)
    loop: tuple[LoopDecision, ...] = ()  # the loop's steps, a timeline

    @classmethod
    def of(cls, evaluations: Sequence[Evaluation], loop: Sequence[LoopDecision] = ()) -> ReportView:
        """Arrange the history (oldest first) of reports and of the loop's steps."""
        series: dict[str, dict[str, list[tuple[datetime, ArmMetrics]]]] = {}
        latest: dict[tuple[str, str, str], ArmMetrics] = {}
        verdicts: dict[tuple[str, str, str], ABVerdict] = {}
        for e in sorted(evaluations, key=lambda e: e.occurred_at):
            if e.metrics is not None and e.variant is not None:
                latest[(e.experiment, e.variant, e.metrics.window)] = e.metrics
                if e.metrics.window == "cumulative":
                    arms = series.setdefault(e.experiment, {})
                    arms.setdefault(e.variant, []).append((e.occurred_at, e.metrics))
            if e.verdict is not None:
                verdicts[(e.experiment, e.verdict.metric, e.verdict.treatment)] = e.verdict
        return cls(series, latest, verdicts, tuple(sorted(loop, key=lambda d: d.occurred_at)))


def _value(metrics: ArmMetrics, name: str, fmt: str) -> str:
    value = getattr(metrics, name)
    return "-" if value is None else fmt.format(value)


def _verdict_line(v: ABVerdict) -> str:
    low = "-inf" if v.ci_low is None else f"{v.ci_low:+.4g}"
    high = "+inf" if v.ci_high is None else f"{v.ci_high:+.4g}"
    outcome = f"{v.winner} wins" if v.decision == "winner" else v.decision
    return (
        f"{v.metric:<20} {v.treatment} vs {v.control}: effect {v.effect:+.4g} "
        f"({v.relative_effect:+.1%}), CI [{low}, {high}], p {v.p_value:.3g}, "
        f"n {v.n_treatment}/{v.n_control} -> {outcome}"
    )


def format_table(view: ReportView) -> str:
    """Return the latest metrics per arm and window, the verdicts, then the loop's steps, as
    terminal text."""
    if not view.latest and not view.loop:
        return "no reports yet: the evaluator reports every PILLARS_EVALUATOR_REPORT_INTERVAL_S"
    lines = []
    widths = [max(len(label), 9) for _, label, _ in COLUMNS]
    header = f"{'arm':<24} {'window':<10} " + " ".join(
        f"{label:>{w}}" for (_, label, _), w in zip(COLUMNS, widths, strict=True)
    )
    for experiment in sorted({k[0] for k in view.latest}):
        lines += ["", f"experiment {experiment}", header]
        for (exp, variant, window), metrics in sorted(view.latest.items()):
            if exp != experiment:
                continue
            cells = " ".join(
                f"{_value(metrics, name, fmt):>{w}}"
                for (name, _, fmt), w in zip(COLUMNS, widths, strict=True)
            )
            lines.append(f"{variant:<24} {window:<10} {cells}")
        decided = [v for (exp, _, _), v in sorted(view.verdicts.items()) if exp == experiment]
        if decided:
            lines += ["A/B (always-valid, against the control):"]
            lines += [f"  {_verdict_line(v)}" for v in decided]
    steps = timeline_lines(view.loop)
    if steps:
        lines += ["", *steps]
    return "\n".join(lines[1:])


def _plot(title: str, arms: dict[str, list[tuple[datetime, ArmMetrics]]], metric: str) -> str:
    points = {
        arm: [
            (t.timestamp(), getattr(m, metric)) for t, m in rows if getattr(m, metric) is not None
        ]
        for arm, rows in sorted(arms.items())
    }
    values = [v for series in points.values() for _, v in series]
    times = [t for series in points.values() for t, _ in series]
    width, height, pad = 420, 160, 30
    parts = [
        f'<svg class="plot" data-metric="{metric}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{pad}" y="14" font-size="12">{html.escape(title)}</text>',
    ]
    if values:
        low, high = min(values), max(values)
        span_v = (high - low) or abs(high) or 1.0
        start, end = min(times), max(times)
        span_t = (end - start) or 1.0
        parts.append(
            f'<text x="2" y="{pad}" font-size="10">{high:.3g}</text>'
            f'<text x="2" y="{height - 6}" font-size="10">{low:.3g}</text>'
        )
        for i, (arm, series) in enumerate(points.items()):
            colour = _COLOURS[i % len(_COLOURS)]
            xy = " ".join(
                f"{pad + (t - start) / span_t * (width - 2 * pad):.1f},"
                f"{height - pad / 2 - (v - low) / span_v * (height - 2 * pad):.1f}"
                for t, v in series
            )
            parts.append(
                f'<polyline data-arm="{html.escape(arm)}" fill="none" stroke="{colour}" '
                f'stroke-width="2" points="{xy}"/>'
                f'<text x="{width - pad - 60}" y="{14 + 12 * (i + 1)}" font-size="10" '
                f'fill="{colour}">{html.escape(arm)}</text>'
            )
    else:
        parts.append(f'<text x="{pad}" y="{height / 2}" font-size="11">no data yet</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(view: ReportView, generated_at: datetime) -> str:
    """Return the report as one self-contained HTML page."""
    body = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>pillars · evaluation report</title><style>",
        "body{font:14px system-ui,sans-serif;margin:1rem auto;max-width:1100px;color:#1d2330}",
        "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d5d9e2;",
        "padding:.2rem .5rem;text-align:right}th:first-child,td:first-child{text-align:left}",
        ".plots{display:flex;flex-wrap:wrap;gap:.5rem}.winner{font-weight:600;color:#17803d}",
        "</style></head><body>",
        f"<h1>Evaluation report</h1><p>Generated {generated_at:%Y-%m-%d %H:%M:%S %Z}.</p>",
    ]
    experiments = sorted({k[0] for k in view.latest} | set(view.series))
    if not experiments and not view.loop:
        body.append("<p>No reports yet.</p>")
    for experiment in experiments:
        body.append(f"<section data-experiment='{html.escape(experiment)}'>")
        body.append(f"<h2>Experiment {html.escape(experiment)}</h2><div class='plots'>")
        arms = view.series.get(experiment, {})
        labels = {name: label for name, label, _ in COLUMNS}
        body += [_plot(f"{labels[m]} over time", arms, m) for m in PLOTTED]
        body.append("</div><table><tr><th>arm</th><th>window</th>")
        body += [f"<th>{html.escape(label)}</th>" for _, label, _ in COLUMNS]
        body.append("</tr>")
        for (exp, variant, window), metrics in sorted(view.latest.items()):
            if exp == experiment:
                cells = "".join(f"<td>{_value(metrics, n, f)}</td>" for n, _, f in COLUMNS)
                body.append(f"<tr><td>{html.escape(variant)}</td><td>{window}</td>{cells}</tr>")
        body.append("</table><h3>A/B verdicts</h3><table class='verdicts'><tr>")
        body += [
            f"<th>{h}</th>"
            for h in ("metric", "arm", "control", "effect", "relative", "CI", "p", "decision")
        ]
        body.append("</tr>")
        for (exp, _, _), v in sorted(view.verdicts.items()):
            if exp != experiment:
                continue
            low = "-∞" if v.ci_low is None else f"{v.ci_low:+.4g}"
            high = "+∞" if v.ci_high is None else f"{v.ci_high:+.4g}"
            decision = f"{v.winner} wins" if v.decision == "winner" else v.decision
            css = " class='winner'" if v.decision == "winner" else ""
            body.append(
                f"<tr><td>{v.metric}</td><td>{html.escape(v.treatment)}</td>"
                f"<td>{html.escape(v.control)}</td><td>{v.effect:+.4g}</td>"
                f"<td>{v.relative_effect:+.1%}</td><td>[{low}, {high}]</td>"
                f"<td>{v.p_value:.3g}</td><td{css}>{html.escape(decision)}</td></tr>"
            )
        body.append("</table></section>")
    body.append(timeline_html(view.loop))
    body.append("</body></html>")
    return "\n".join(body)
