"""LLM-as-judge: any configured generator rates each answer against its question and
passages, 1 (wrong or unsupported) to 5 (correct and supported).

The rating is the first digit 1-5 in the judge's reply, scaled to 0..1. A reply without
one, or a judge that fails, gives no score and says why: the prediction is still scored
on everything else, and nothing waits for the judge to recover.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.contracts.events import ModelRef, Prediction
from shared.generators import Generator, GeneratorError
from shared.generators.prompts import fill_prompt, numbered_passages

__all__ = ["JUDGE_TEMPLATE", "GeneratorJudge", "Judgement", "parse_rating"]

JUDGE_TEMPLATE = (
    "Rate how well the answer responds to the question, using only the passages.\n"
    "Passages:\n{passages}\n\n"
    "Question: {query}\n"
    "Answer: {answer}\n\n"
    "Rating from 1 (wrong or unsupported) to 5 (correct and supported), one digit:"
)
_RATING = re.compile(r"(?<!\d)([1-5])(?!\d)")


@dataclass(frozen=True)
class Judgement:
    """What the judge said of one answer."""

    model: ModelRef
    rating: int | None
    reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def score(self) -> float | None:
        """Return the rating scaled to 0..1 (1 -> 0.0, 5 -> 1.0), None without one."""
        return None if self.rating is None else (self.rating - 1) / 4


def parse_rating(reply: str) -> int | None:
    """Return the first stand-alone digit 1-5 of the reply, if there is one."""
    found = _RATING.search(reply)
    return int(found.group(1)) if found else None


def judge_prompt(prediction: Prediction, template: str = JUDGE_TEMPLATE) -> str:
    """Fill the judge's template with the prediction's passages, question and answer."""
    return fill_prompt(
        template,
        passages=numbered_passages(prediction.sources) or "(none)",
        query=prediction.query,
        answer=prediction.answer,
    )


class GeneratorJudge:
    """`Judge` through a generator: the local model or any OpenAI-compatible endpoint."""

    def __init__(self, generator: Generator, template: str = JUDGE_TEMPLATE) -> None:
        self._generator = generator
        self._template = template

    @property
    def model(self) -> ModelRef:
        """The judge's model."""
        return self._generator.model

    async def judge(self, prediction: Prediction) -> Judgement:
        """Rate the prediction's answer; never raise for the judge's own failures."""
        try:
            reply = await self._generator.generate(judge_prompt(prediction, self._template))
        except GeneratorError as exc:
            return Judgement(self.model, None, reason=f"judge failed: {exc}")
        rating = parse_rating(reply.text)
        reason = "" if rating is not None else f"no rating 1-5 in the reply {reply.text[:80]!r}"
        return Judgement(
            reply.model,
            rating,
            reason=reason,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cost_usd=reply.cost_usd,
        )
