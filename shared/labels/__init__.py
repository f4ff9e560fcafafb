"""Labelled examples the platform collected (feedback joined to its prediction) or a user
gave (a file), and the snapshots training runs take of them.

The feedback service writes a row for each `label`, `correction` or `review` it joins to a
prediction; `pillars train --from FILE` writes a user's rows; the trainer trains on a
snapshot (its time range, row count and content hash are the model's `training_data`); the
evaluator's loop counts the labels that arrived since the last training.
"""

from shared.labels.pg_store import PgLabelStore
from shared.labels.snapshot import LabelRow, Snapshot, cap_per_user, take_snapshot, time_split

__all__ = [
    "LabelRow",
    "PgLabelStore",
    "Snapshot",
    "cap_per_user",
    "take_snapshot",
    "time_split",
]
