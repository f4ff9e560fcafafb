"""Filling prompt templates: the solutions' prompts and the evaluator judge's."""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.contracts.events import RetrievedChunk

__all__ = ["fill_prompt", "numbered_passages"]


def numbered_passages(sources: Sequence[RetrievedChunk]) -> str:
    """Return the passages one per line, numbered from 1: `[1] text`."""
    return "\n".join(f"[{i}] {source.text}" for i, source in enumerate(sources, start=1))


def fill_prompt(template: str, **values: str) -> str:
    """Replace each `{name}` of `values` in one pass: other braces stay as written, and
    nothing inserted (a question, a passage) is itself read as a placeholder."""
    if not values:
        return template
    names = "|".join(re.escape(name) for name in values)
    return re.sub(rf"\{{({names})\}}", lambda found: values[found.group(1)], template)
