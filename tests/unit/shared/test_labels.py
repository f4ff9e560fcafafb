"""Label snapshots: a content hash that only the labels change, the per-user cap, and the
split that holds out the newest labels."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.labels import LabelRow, cap_per_user, take_snapshot, time_split

pytestmark = pytest.mark.loop

START = datetime(2026, 12, 1, tzinfo=UTC)


def rows(n: int) -> list[LabelRow]:
    return [
        LabelRow(
            tenant="acme",
            dataset="feedback",
            request_id=f"r{i}",
            text=f"text {i}",
            label="yes" if i % 3 else "no",
            predicted="yes",
            variant="a",
            user_id=f"u{i % 4}",
            labelled_at=START + timedelta(seconds=i // 2),  # pairs share a second
        )
        for i in range(n)
    ]


def test_the_hash_is_the_same_whatever_order_the_rows_come_in() -> None:
    given = rows(50)
    shuffled = given[:]
    random.Random(1).shuffle(shuffled)
    first = take_snapshot("acme", "feedback", given)
    again = take_snapshot("acme", "feedback", shuffled)
    assert again.sha256 == first.sha256
    assert again.rows == first.rows
    # Time zones and what training does not read (prediction, arm, user) change nothing.
    moved = [
        dataclasses.replace(
            r,
            labelled_at=r.labelled_at.astimezone(timezone(timedelta(hours=5))),
            predicted=None,
            variant="b",
        )
        for r in given
    ]
    assert take_snapshot("acme", "feedback", moved).sha256 == first.sha256


@pytest.mark.parametrize(
    "change",
    [
        {"label": "no"},
        {"text": "text 7!"},
        {"labelled_at": START + timedelta(hours=1)},
        {"request_id": "r7b"},
    ],
    ids=["label", "text", "time", "request"],
)
def test_any_change_to_a_label_changes_the_hash(change: dict[str, object]) -> None:
    given = rows(20)
    changed = [*given[:7], dataclasses.replace(given[7], **change), *given[8:]]  # type: ignore[arg-type]
    assert take_snapshot("acme", "feedback", changed).sha256 != (
        take_snapshot("acme", "feedback", given).sha256
    )
    assert take_snapshot("acme", "feedback", given[:-1]).sha256 != (
        take_snapshot("acme", "feedback", given).sha256
    )


def test_a_snapshot_describes_its_range_rows_counts_and_hash() -> None:
    snapshot = take_snapshot("acme", "feedback", rows(12), until=START + timedelta(seconds=4))
    assert snapshot.count == 10  # seconds 0-4, two a second
    assert (snapshot.first, snapshot.last) == (START, START + timedelta(seconds=4))
    assert snapshot.label_counts == {"no": 4, "yes": 6}
    assert snapshot.describe() == (
        "labels feedback of tenant acme: 10 rows (no 4, yes 6), "
        "2026-12-01T00:00:00+00:00 to 2026-12-01T00:00:04+00:00, "
        f"sha256:{snapshot.sha256}"
    )


def test_the_per_user_cap_keeps_each_users_newest_and_leaves_no_user_uncapped() -> None:
    given = rows(20)  # users u0-u3, five each
    anonymous = [
        dataclasses.replace(r, request_id=f"a{i}", user_id=None) for i, r in enumerate(given)
    ]
    kept = cap_per_user(given + anonymous, 2)
    assert sorted(r.request_id for r in kept if r.user_id) == [f"r{i}" for i in range(12, 20)]
    assert len([r for r in kept if r.user_id is None]) == 20
    assert [r.order for r in kept] == sorted(r.order for r in kept)
    snapshot = take_snapshot("acme", "feedback", given, max_per_user=2)
    assert (snapshot.count, snapshot.dropped) == (8, 12)
    assert "at most 2 per user (12 over the cap left out)" in snapshot.describe()


def test_the_holdout_is_the_newest_rows() -> None:
    given = rows(10)
    shuffled = given[::-1]
    train, holdout = time_split(shuffled, 0.3)
    assert [r.request_id for r in holdout] == ["r7", "r8", "r9"]
    assert [r.request_id for r in train] == [f"r{i}" for i in range(7)]
    assert max(r.order for r in train) < min(r.order for r in holdout)


def test_the_split_keeps_a_row_on_each_side_and_none_out_at_zero() -> None:
    assert [len(part) for part in time_split(rows(3), 0.01)] == [2, 1]
    assert [len(part) for part in time_split(rows(3), 0.9)] == [1, 2]
    assert [len(part) for part in time_split(rows(3), 0)] == [3, 0]
    assert time_split([], 0.2) == ([], [])
    with pytest.raises(ValueError, match="holdout_fraction"):
        time_split(rows(3), 1.0)
