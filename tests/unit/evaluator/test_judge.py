"""LLM-as-judge through a generator: ratings parsed, failures give a reason, not an error."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from services.evaluator.handlers import evaluate_prediction
from services.evaluator.judge import GeneratorJudge, judge_prompt, parse_rating
from shared.contracts.events import ModelRef, utcnow
from shared.generators import Generation, GeneratorError
from tests.fakes import InMemoryScoreBook
from tests.unit.evaluator.test_handlers import prediction

JUDGE = ModelRef(name="judge-llm", version="1")


@dataclass
class Replying:
    reply: str | None  # None: the generator fails
    model: ModelRef = JUDGE
    prompts: list[str] = field(default_factory=list)

    async def generate(self, prompt: str) -> Generation:
        self.prompts.append(prompt)
        if self.reply is None:
            raise GeneratorError("http://judge: timed out after 2.0 s")
        now = utcnow()
        return Generation(self.reply, self.model, 120, 2, 0.0004, now, now)

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize(
    ("reply", "rating"),
    [
        (" 4", 4),
        ("Rating: 5/5", 5),
        ("1.", 1),
        ("I'd say 3 out of 5", 3),
        ("10", None),
        ("7", None),
        ("", None),
    ],
)
def test_the_first_stand_alone_digit_one_to_five_is_the_rating(
    reply: str, rating: int | None
) -> None:
    assert parse_rating(reply) == rating


async def test_a_rated_answer_is_scored_and_counted_for_its_arm() -> None:
    book = InMemoryScoreBook()
    generator = Replying(" 4")
    p = prediction("r1", [0.9]).model_copy(
        update={"query": "How long do refunds take?", "answer": "Five working days."}
    )
    evaluation = await evaluate_prediction(p, book=book, judge=GeneratorJudge(generator))
    assert evaluation.judge_score == 0.75
    assert evaluation.judge_model == JUDGE
    assert evaluation.judge_note == ""
    prompt = generator.prompts[0]
    assert "Question: How long do refunds take?\nAnswer: Five working days." in prompt
    assert "Passages:\n[1] t\n" in prompt
    assert book.scores[("acme", "r1")].judge_score == 0.75


async def test_a_failing_or_unclear_judge_leaves_the_other_scores() -> None:
    book = InMemoryScoreBook()
    failed = await evaluate_prediction(
        prediction("r1", [0.8]), book=book, judge=GeneratorJudge(Replying(None))
    )
    assert failed.judge_score is None
    assert failed.judge_note == "judge failed: http://judge: timed out after 2.0 s"
    assert failed.retrieval_relevance == pytest.approx(0.8)
    unclear = await evaluate_prediction(
        prediction("r2", [0.8]), book=book, judge=GeneratorJudge(Replying("great answer!"))
    )
    assert unclear.judge_score is None
    assert unclear.judge_note == "no rating 1-5 in the reply 'great answer!'"


def test_the_prompt_says_when_there_are_no_passages() -> None:
    p = prediction("r1", []).model_copy(update={"answer": "positive"})
    assert "Passages:\n(none)" in judge_prompt(p)
