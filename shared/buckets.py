"""Deterministic buckets: the same (salt, unit) always lands at the same point in [0, 1)."""

from __future__ import annotations

import hashlib

__all__ = ["bucket"]


def bucket(salt: str, unit: str) -> float:
    """Map (salt, unit) to a number in [0, 1) that never changes for the same pair."""
    digest = hashlib.sha256(f"{salt}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
