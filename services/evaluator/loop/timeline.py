"""The loop's steps as people read them: one line per step with the numbers behind it, as
terminal text (`pillars loop status`, `pillars report`) and as an HTML table."""

from __future__ import annotations

import html
from collections.abc import Sequence

from shared.contracts.events import LoopDecision

__all__ = ["figures_text", "step_line", "timeline_html", "timeline_lines"]

# (figure, label, format) in the order they are shown; others are left to the event.
_SHOWN: tuple[tuple[str, str, str], ...] = (
    ("new_labels", "new labels", "{:.0f}"),
    ("drift_statistic", "drift", "{:.3g}"),
    ("window_accuracy", "window accuracy", "{:.3f}"),
    ("train_n", "trained on", "{:.0f}"),
    ("holdout_n", "held out", "{:.0f}"),
    ("candidate_macro_f1", "macro-F1", "{:.3f}"),
    ("production_macro_f1", "production macro-F1", "{:.3f}"),
    ("share", "share", "{:.0%}"),
    ("challenger_labelled", "labelled", "{:.0f}"),
    ("production_accuracy", "production accuracy", "{:.3f}"),
    ("challenger_accuracy", "challenger accuracy", "{:.3f}"),
    ("effect", "effect", "{:+.4f}"),
    ("p_value", "p", "{:.3g}"),
    ("latency_p99_ratio", "p99 ratio", "{:.2f}"),
    ("cost_ratio", "cost ratio", "{:.2f}"),
    ("fallback_rate_excess", "fallback excess", "{:+.1%}"),
)


def figures_text(figures: dict[str, float]) -> str:
    """Return the figures worth reading, with the confidence interval when there is one."""
    parts = [
        label + " " + fmt.format(figures[name]) for name, label, fmt in _SHOWN if name in figures
    ]
    if "ci_low" in figures and "ci_high" in figures:
        parts.append(f"CI [{figures['ci_low']:+.4f}, {figures['ci_high']:+.4f}]")
    return ", ".join(parts)


def _version(number: int | None) -> str:
    return "-" if number is None else f"v{number}"


def step_line(decision: LoopDecision) -> str:
    """Return one step as a line: when, which model, what, why and the numbers."""
    line = (
        f"{decision.occurred_at:%Y-%m-%d %H:%M:%S}  {decision.model:<20} "
        f"{decision.step:<16} {_version(decision.candidate_version):>4}  {decision.reason}"
    )
    figures = figures_text(decision.figures)
    if figures:
        line += f" ({figures})"
    if decision.evaluation_id is not None:
        line += f" [evaluation {decision.evaluation_id}]"
    return line


def timeline_lines(decisions: Sequence[LoopDecision]) -> list[str]:
    """Return the loop's steps, oldest first, under a heading (none: nothing)."""
    if not decisions:
        return []
    ordered = sorted(decisions, key=lambda d: d.occurred_at)
    return ["loop (every step, oldest first):", *(f"  {step_line(d)}" for d in ordered)]


def timeline_html(decisions: Sequence[LoopDecision]) -> str:
    """Return the loop's steps as an HTML section (empty without steps)."""
    if not decisions:
        return ""
    rows = [
        "<section data-loop><h2>The loop</h2><table class='loop'><tr>",
        *(
            f"<th>{h}</th>"
            for h in ("time", "model", "step", "candidate", "production", "why", "figures")
        ),
        "</tr>",
    ]
    for d in sorted(decisions, key=lambda d: d.occurred_at):
        evaluation = (
            f" <small>evaluation {d.evaluation_id}</small>" if d.evaluation_id is not None else ""
        )
        rows.append(
            f"<tr data-step='{d.step}'><td>{d.occurred_at:%Y-%m-%d %H:%M:%S}</td>"
            f"<td>{html.escape(d.model)}</td><td>{d.step}</td>"
            f"<td>{_version(d.candidate_version)}</td><td>{_version(d.production_version)}</td>"
            f"<td>{html.escape(d.reason)}</td>"
            f"<td>{html.escape(figures_text(d.figures))}{evaluation}</td></tr>"
        )
    rows.append("</table></section>")
    return "\n".join(rows)
