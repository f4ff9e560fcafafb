"""Running a solution's blocks for one request: rules, classifier, retriever, generator.

`pipeline` runs every block the solution has; the answer is the generator's, else the
classifier's label. `router` answers with the first of: a matching rule, the classifier
when it is confident, else retrieval and generation. Rules of stage `before` may answer or
block before any model runs; rules of stage `after` check the answer. Each block leaves a
`BlockRun` with its model, timing, tokens and cost.

A failing generator does not lose the request: the answer falls back to the best
passage and the block records why. A missing classifier fails a classifier-only solution
(the message names the model); a router falls back to generation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from services.inference.ports import Classifiers, Generators, Retriever
from services.inference.rules import first_match
from services.inference.solutions import Solution
from shared.contracts.embedders import PRIMARY, EmbedderName
from shared.contracts.events import BlockRun, ModelRef, RequestEmbedded, RetrievedChunk
from shared.generators import Generation, GeneratorError
from shared.generators.prompts import fill_prompt, numbered_passages
from shared.models.classifiers import Classification

__all__ = ["EXTRACTIVE", "NO_ANSWER", "Answer", "SolutionRunner", "query_vector"]

EXTRACTIVE = ModelRef(name="extractive-best-passage", version="1")
NO_ANSWER = "No indexed passage of this tenant matches the question."


@dataclass
class Answer:
    """What a solution answered, from which model, and each block's part in it."""

    text: str
    model: ModelRef
    sources: list[RetrievedChunk] = field(default_factory=list)
    blocks: list[BlockRun] = field(default_factory=list)
    label: str | None = None
    confidence: float | None = None
    prompt_version: str | None = None

    @property
    def input_tokens(self) -> int:
        """Return the tokens every block read."""
        return sum(b.input_tokens for b in self.blocks)

    @property
    def output_tokens(self) -> int:
        """Return the tokens every block wrote."""
        return sum(b.output_tokens for b in self.blocks)

    @property
    def cost_usd(self) -> float:
        """Return the estimated cost of every block together."""
        return sum(b.cost_usd for b in self.blocks)


def query_vector(request: RequestEmbedded, embedder: EmbedderName) -> tuple[list[float], ModelRef]:
    """Return the query's vector by `embedder` and the model that made it; a request embedded
    without it (its arm changed meanwhile) is an error naming the model."""
    if embedder == PRIMARY:
        return request.query_vector, request.embedding_model
    found = request.query_vectors.get(embedder)
    if found is None:
        raise LookupError(
            f"request {request.request_id} has no {embedder!r} query vector (it has "
            f"{sorted(request.query_vectors) or 'none'}): the embedding service embeds one "
            "per model the arms' solutions name; reload it after adding a solution"
        )
    return found.vector, found.model


def rule_model(name: str, solution: Solution) -> ModelRef:
    """Return the model reference of an answer a rule gave."""
    return ModelRef(name=f"rule:{name}", version=f"{solution.name}@{solution.version}")


def render(template: str, query: str, sources: list[RetrievedChunk]) -> str:
    """Fill `{query}` and `{passages}`; other braces in the template stay as written."""
    return fill_prompt(template, passages=numbered_passages(sources), query=query)


@dataclass
class SolutionRunner:
    """Runs solutions against the retriever, the classifiers and the generators."""

    retriever: Retriever
    classifiers: Classifiers
    generators: Generators
    clock: Callable[[], datetime]

    async def run(
        self, solution: Solution, request: RequestEmbedded, *, top_k: int | None = None
    ) -> Answer:
        """Answer `request` with `solution`; `top_k` overrides its retriever's depth."""
        blocks: list[BlockRun] = []
        answer = await self._answer(solution, request, top_k, blocks)
        answer.blocks = blocks
        if any(rule.stage == "after" for rule in solution.rules):
            started = self.clock()
            fired = first_match(solution.rules, answer.text, "after")
            if fired and fired.rule.action == "block" and fired.answer:
                answer.text = fired.answer
                answer.model = rule_model(fired.rule.name, solution)
            outcome = f"{fired.rule.name}: {fired.rule.action}" if fired else "passed"
            blocks.append(self._ran("output_rules", started, outcome=outcome))
        return answer

    async def _answer(
        self,
        solution: Solution,
        request: RequestEmbedded,
        top_k: int | None,
        blocks: list[BlockRun],
    ) -> Answer:
        if any(rule.stage == "before" for rule in solution.rules):
            started = self.clock()
            fired = first_match(solution.rules, request.query, "before")
            outcome = f"{fired.rule.name}: {fired.rule.action}" if fired else "no match"
            blocks.append(self._ran("rules", started, outcome=outcome))
            if fired and fired.rule.action in ("answer", "block") and fired.answer:
                return Answer(fired.answer, rule_model(fired.rule.name, solution))
        label: Classification | None = None
        if solution.classifier:
            label = await self._classify(solution, request, blocks)
            confident = label and label.confidence >= solution.classifier.min_confidence
            if label and (solution.generator is None or (solution.mode == "router" and confident)):
                return self._labelled(label, blocks)
        sources: list[RetrievedChunk] = []
        if solution.retriever:
            started = self.clock()
            vector, embedder = query_vector(request, solution.retriever.embedder)
            sources = await self.retriever.nearest(
                request.tenant,
                vector,
                top_k or solution.retriever.top_k,
                ef_search=solution.retriever.ef_search,
                text=request.query,
                plan=solution.retriever.plan,
            )
            outcome = f"{len(sources)} passages"
            blocks.append(self._ran("retriever", started, model=embedder, outcome=outcome))
        answer = await self._generate(solution, request, sources, blocks)
        if label:
            answer.label, answer.confidence = label.label, label.confidence
        return answer

    async def _classify(
        self, solution: Solution, request: RequestEmbedded, blocks: list[BlockRun]
    ) -> Classification | None:
        assert solution.classifier is not None
        block = solution.classifier
        started = self.clock()
        try:
            # The arm's model version (a challenger's) wins over the solution's own.
            version = request.model_version or block.version
            model = await self.classifiers.classifier(block.model, version)
        except LookupError as exc:
            if solution.generator is None:
                raise LookupError(f"solution {solution.name!r}: {exc}") from exc
            blocks.append(self._ran("classifier", started, outcome=f"unavailable: {exc}"))
            return None
        vector = np.asarray([request.query_vector], dtype=np.float32)
        result = model.classify(vector)[0]
        ref = ModelRef(name=model.name, version=str(model.version))
        outcome = f"{result.label} ({result.confidence:.3f})"
        blocks.append(self._ran("classifier", started, model=ref, outcome=outcome))
        return result

    @staticmethod
    def _labelled(label: Classification, blocks: list[BlockRun]) -> Answer:
        model = next(b.model for b in reversed(blocks) if b.block == "classifier" and b.model)
        return Answer(label.label, model, label=label.label, confidence=label.confidence)

    async def _generate(
        self,
        solution: Solution,
        request: RequestEmbedded,
        sources: list[RetrievedChunk],
        blocks: list[BlockRun],
    ) -> Answer:
        block = solution.generator
        extractive = Answer(sources[0].text if sources else NO_ANSWER, EXTRACTIVE, sources)
        if block is None or block.kind == "extractive":
            started = self.clock()
            blocks.append(self._ran("generator", started, model=EXTRACTIVE, outcome="best passage"))
            return extractive
        assert solution.prompt is not None  # the solution's validation demands one
        prompt = render(solution.prompt.template, request.query, sources)
        started = self.clock()
        generator = self.generators.generator(block)
        try:
            generation = await generator.generate(prompt)
        except GeneratorError as exc:
            blocks.append(
                self._ran(
                    "generator",
                    started,
                    model=generator.model,
                    outcome=f"failed, answered with the best passage: {exc}",
                )
            )
            return extractive
        blocks.append(self._generated(generation))
        return Answer(
            generation.text.strip() or NO_ANSWER,
            generation.model,
            sources,
            prompt_version=solution.prompt.version,
        )

    @staticmethod
    def _generated(generation: Generation) -> BlockRun:
        return BlockRun(
            block="generator",
            model=generation.model,
            started_at=generation.started_at,
            finished_at=generation.finished_at,
            input_tokens=generation.input_tokens,
            output_tokens=generation.output_tokens,
            cost_usd=generation.cost_usd,
            outcome=f"{generation.output_tokens} tokens",
        )

    def _ran(
        self,
        block: str,
        started: datetime,
        *,
        model: ModelRef | None = None,
        outcome: str = "",
    ) -> BlockRun:
        return BlockRun.model_validate(
            {
                "block": block,
                "model": model,
                "started_at": started,
                "finished_at": self.clock(),
                "outcome": outcome,
            }
        )
