"""A user's labelled file for `pillars train --from FILE.jsonl`: one `{"text": ..., "label":
...}` per line, checked before anything is stored, each problem named by its line."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.labels import LabelRow

__all__ = ["FileProblem", "check_counts", "check_known_labels", "read_labelled_file"]


class FileProblem(ValueError):  # noqa: N818 - it names what the user must fix
    """What is wrong with a labelled file, naming the line or label."""


def _field(record: object, name: str, where: str) -> str:
    value = record.get(name) if isinstance(record, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise FileProblem(
            f'{where}: needs a non-empty string "{name}" (each line: {{"text": ..., "label": ...}})'
        )
    return value


def read_labelled_file(path: Path, *, tenant: str, dataset: str) -> list[LabelRow]:
    """Return the file's rows as labels of `dataset`, or raise FileProblem naming the line.

    Each row's time is the file's modification time plus its line number in microseconds,
    so the file's order is the snapshot's (the last lines are the newest, held out first)
    and the same file, unchanged, snapshots to the same hash.
    """
    try:
        text = path.read_text(encoding="utf-8")
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except (OSError, UnicodeDecodeError) as exc:
        raise FileProblem(f"{path}: cannot be read ({exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FileProblem(f"{where}: not a JSON object ({exc.msg})") from None
        rows.append(
            LabelRow(
                tenant=tenant,
                dataset=dataset,
                request_id=f"line-{number}",
                text=_field(record, "text", where),
                label=_field(record, "label", where).strip(),
                labelled_at=modified + timedelta(microseconds=number),
            )
        )
    if not rows:
        raise FileProblem(f"{path}: holds no labelled lines")
    return rows


def check_counts(rows: Sequence[LabelRow], min_per_class: int, path: Path) -> None:
    """Raise FileProblem naming each label with fewer than `min_per_class` examples."""
    counts = Counter(row.label for row in rows)
    if len(counts) < 2:
        raise FileProblem(
            f"{path}: every line has the label {rows[0].label!r}: a classifier needs two"
        )
    short = sorted((label, n) for label, n in counts.items() if n < min_per_class)
    if short:
        listed = ", ".join(f"{label!r} has {n}" for label, n in short)
        raise FileProblem(
            f"{path}: too few examples per label: {listed}; each label needs at least "
            f"{min_per_class} (PILLARS_TRAINER_MIN_PER_CLASS), more once the newest are held out"
        )


def check_known_labels(
    rows: Sequence[LabelRow], known: Sequence[str], name: str, path: Path
) -> None:
    """Raise FileProblem when the file's labels are not the ones model `name` already has."""
    given = {row.label for row in rows}
    if not known or given == set(known):
        return
    unknown, missing = sorted(given - set(known)), sorted(set(known) - given)
    parts = [f"labels {name!r} does not know: {', '.join(map(repr, unknown))}"] if unknown else []
    parts += (
        [f"labels of {name!r} the file lacks: {', '.join(map(repr, missing))}"] if missing else []
    )
    raise FileProblem(
        f"{path}: {'; '.join(parts)} ({name!r} has {', '.join(map(repr, known))}); "
        "fix the labels, or train under a new --name"
    )
