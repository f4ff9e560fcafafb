"""The one error admission raises: a model file that is not loaded, and why."""

from __future__ import annotations

__all__ = ["ModelRefused"]


class ModelRefused(Exception):  # noqa: N818 - it names the outcome
    """The artifact is not loaded: the reason says why and what to do."""
