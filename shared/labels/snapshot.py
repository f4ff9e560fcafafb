"""Label rows, the snapshot a training run takes of them, and the split by time.

A snapshot's content hash covers what training reads of each row (request id, text, label,
time), in the snapshot's own order, so the same labels hash the same whatever order the
database returned them in, and any changed, added or removed label changes it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

__all__ = ["LabelRow", "Snapshot", "cap_per_user", "take_snapshot", "time_split"]


@dataclass(frozen=True, kw_only=True)
class LabelRow:
    """One labelled example: a request's text and its true label, and what was predicted."""

    tenant: str
    dataset: str  # `feedback`, or `file:<name>` for a user's file
    request_id: str
    text: str
    label: str
    predicted: str | None = None  # the model's label when the prediction was made
    variant: str = ""  # the experiment arm that answered
    user_id: str | None = None
    labelled_at: datetime

    @property
    def order(self) -> tuple[datetime, str]:
        """Return the row's place in a snapshot: by time, then request id."""
        return (self.labelled_at, self.request_id)

    def canonical(self) -> list[str]:
        """Return what the content hash covers of this row."""
        at = self.labelled_at.astimezone(UTC).isoformat(timespec="microseconds")
        return [self.request_id, self.text, self.label, at]


def cap_per_user(rows: Iterable[LabelRow], max_per_user: int | None) -> list[LabelRow]:
    """Return `rows` keeping at most `max_per_user` labels of each user, the newest.

    Rows without a user (a file's) are not capped: they are nobody's to steer with.
    """
    ordered = sorted(rows, key=lambda row: row.order)
    if max_per_user is None:
        return ordered
    kept: list[LabelRow] = []
    counted: Counter[str] = Counter()
    for row in reversed(ordered):
        if row.user_id is not None:
            counted[row.user_id] += 1
            if counted[row.user_id] > max_per_user:
                continue
        kept.append(row)
    return kept[::-1]


@dataclass(frozen=True)
class Snapshot:
    """The labels one training run reads: rows in time order, and what identifies them."""

    tenant: str
    dataset: str
    rows: tuple[LabelRow, ...]
    until: datetime | None = None
    max_per_user: int | None = None
    dropped: int = field(default=0, compare=False)  # labels the per-user cap left out

    @property
    def count(self) -> int:
        """Return how many labels the snapshot holds."""
        return len(self.rows)

    @property
    def first(self) -> datetime | None:
        """Return when the oldest label was given."""
        return self.rows[0].labelled_at if self.rows else None

    @property
    def last(self) -> datetime | None:
        """Return when the newest label was given."""
        return self.rows[-1].labelled_at if self.rows else None

    @cached_property
    def label_counts(self) -> dict[str, int]:
        """Return how many rows carry each label, by label name."""
        return dict(sorted(Counter(row.label for row in self.rows).items()))

    @cached_property
    def sha256(self) -> str:
        """Return the content hash of the rows (request id, text, label, time)."""
        digest = hashlib.sha256()
        for row in self.rows:
            digest.update(json.dumps(row.canonical(), ensure_ascii=False).encode())
            digest.update(b"\n")
        return digest.hexdigest()

    def describe(self) -> str:
        """Return the snapshot as the registry's `training_data` names it."""
        span = f"{_when(self.first)} to {_when(self.last)}" if self.rows else "no labels"
        counts = ", ".join(f"{label} {n}" for label, n in self.label_counts.items())
        cap = "" if self.max_per_user is None else f", at most {self.max_per_user} per user"
        left_out = f" ({self.dropped} over the cap left out)" if self.dropped else ""
        return (
            f"labels {self.dataset} of tenant {self.tenant}: {self.count} rows "
            f"({counts}){cap}{left_out}, {span}, sha256:{self.sha256}"
        )


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def take_snapshot(
    tenant: str,
    dataset: str,
    rows: Iterable[LabelRow],
    *,
    until: datetime | None = None,
    max_per_user: int | None = None,
) -> Snapshot:
    """Return the snapshot of `rows` up to `until`, each user's newest `max_per_user` kept."""
    window = [row for row in rows if until is None or row.labelled_at <= until]
    kept = cap_per_user(window, max_per_user)
    return Snapshot(
        tenant, dataset, tuple(kept), until, max_per_user, dropped=len(window) - len(kept)
    )


def time_split(
    rows: Sequence[LabelRow], holdout_fraction: float
) -> tuple[list[LabelRow], list[LabelRow]]:
    """Return (train, holdout): the holdout is the newest `holdout_fraction` of the rows.

    Held out by time, not at random, so the offline gate scores a model on labels newer
    than any it learnt from, as it will meet them in production. With a fraction above
    0, at least one row is held out and at least one trained on (given two rows).
    """
    if not 0 <= holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must be in [0, 1), not {holdout_fraction}")
    ordered = sorted(rows, key=lambda row: row.order)
    held = round(len(ordered) * holdout_fraction)
    if holdout_fraction > 0 and len(ordered) >= 2:
        held = min(max(held, 1), len(ordered) - 1)
    cut = len(ordered) - held
    return ordered[:cut], ordered[cut:]
