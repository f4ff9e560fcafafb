"""`pillars loop status`: each managed model's lineage, from the loop's steps and the
registry: its versions, what trained each, the offline gate, the online decision with its
p-value and interval, and when and why it was promoted or rolled back."""

from __future__ import annotations

from collections.abc import Sequence

from services.evaluator.config import LoopModel
from services.evaluator.loop.state import LoopState
from services.evaluator.loop.timeline import figures_text, step_line
from shared.contracts.events import LoopDecision
from shared.models.registry import ModelRecord

__all__ = ["format_lineage"]

_GATE = ("shadowing", "rejected_offline")
_ONLINE = ("promoted", "archived", "rolled_back")


def _now(state: LoopState) -> str:
    if state.phase == "idle":
        return "idle: no candidate in flight"
    when = f" since {state.since:%Y-%m-%d %H:%M:%S}" if state.since else ""
    what = f"v{state.candidate}" if state.candidate else "a training"
    return f"{state.phase} {what}{when}"


def _when(decision: LoopDecision) -> str:
    return f"{decision.occurred_at:%Y-%m-%d %H:%M:%S}"


def _version_lines(
    version: int, record: ModelRecord | None, steps: Sequence[LoopDecision]
) -> list[str]:
    stage = record.stage if record else "?"
    lines = [f"    v{version:<3} {stage:<10} trained on {record.training_data if record else '?'}"]
    gate = [d for d in steps if d.step in _GATE]
    if gate:
        passed = "passed" if gate[-1].step == "shadowing" else "rejected"
        lines.append(f"          offline gate {passed} {_when(gate[-1])}: {gate[-1].reason}")
    online = [d for d in steps if d.step in _ONLINE]
    if online:
        last = online[-1]
        evaluation = f" [evaluation {last.evaluation_id}]" if last.evaluation_id else ""
        figures = figures_text(last.figures)
        lines.append(
            f"          {last.step.replace('_', ' ')} {_when(last)}: {last.reason}"
            + (f" ({figures})" if figures else "")
            + evaluation
        )
    elif any(d.step == "challenging" for d in steps):
        share = [d.figures.get("share", 0.0) for d in steps if d.step == "challenging"][-1]
        lines.append(f"          challenging at {share:.0%} of the production arm's traffic")
    return lines


def format_lineage(
    name: str,
    model: LoopModel | None,
    versions: Sequence[ModelRecord],
    decisions: Sequence[LoopDecision],
) -> str:
    """Return a model's lineage: its configuration, where the loop stands, each version
    (registry row and the loop's verdicts on it), then every step."""
    head = f"model {name}"
    if model is not None:
        head += (
            f": {model.kind} on tenant {model.tenant}'s labels, experiment {model.experiment} "
            f"(production arm {model.production_arm}, solution {model.solution})"
        )
    lines = [head, f"  now: {_now(LoopState.of(name, decisions))}", "  versions:"]
    records = {record.version: record for record in versions}
    numbers = sorted(set(records) | {d.candidate_version for d in decisions if d.candidate_version})
    if not numbers:
        lines.append("    (none registered yet)")
    for number in numbers:
        steps = [d for d in decisions if d.candidate_version == number]
        lines += _version_lines(number, records.get(number), steps)
    lines.append("  steps:")
    lines += [f"    {step_line(d)}" for d in decisions] or ["    (none yet)"]
    return "\n".join(lines)
