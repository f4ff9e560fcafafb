"""Keyword and regex rules with priorities, before models (routing, guardrails) or after
them (output checks). The highest-priority matching rule of a stage wins."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Rule", "RuleMatch", "first_match"]


class Rule(BaseModel):
    """When `keywords` (any, whole words) or `pattern` (a regex) match, do `action`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    stage: Literal["before", "after"] = "before"
    priority: int = 0
    keywords: tuple[str, ...] = ()
    pattern: str | None = None
    case_sensitive: bool = False
    action: Literal["answer", "block", "flag"] = "answer"
    answer: str | None = Field(
        default=None, description="What to answer (`answer`) or say instead (`block`)."
    )

    @model_validator(mode="after")
    def _complete(self) -> Rule:
        if not self.keywords and not self.pattern:
            raise ValueError(f"rule {self.name!r} needs `keywords` or a `pattern`")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"rule {self.name!r}: bad pattern: {exc}") from exc
        if self.action in ("answer", "block") and not self.answer:
            raise ValueError(f"rule {self.name!r} ({self.action}) needs an `answer`")
        return self

    def matches(self, text: str) -> bool:
        """Tell whether the rule fires on `text`."""
        flags = 0 if self.case_sensitive else re.IGNORECASE
        if self.pattern is not None and re.search(self.pattern, text, flags):
            return True
        return any(
            re.search(rf"\b{re.escape(keyword)}\b", text, flags) for keyword in self.keywords
        )


@dataclass(frozen=True)
class RuleMatch:
    """The rule that fired and what it decided."""

    rule: Rule

    @property
    def answer(self) -> str | None:
        """The answer the rule gives (or the message that replaces a blocked output)."""
        return self.rule.answer


def first_match(
    rules: Sequence[Rule], text: str, stage: Literal["before", "after"]
) -> RuleMatch | None:
    """Return the highest-priority rule of `stage` that matches `text` (ties: listed first)."""
    ordered = sorted((r for r in rules if r.stage == stage), key=lambda r: r.priority, reverse=True)
    for rule in ordered:
        if rule.matches(text):
            return RuleMatch(rule)
    return None
