"""`pillars experiment`: files are validated with one line naming the problem before
anything connects; promote and rollback compute the version to write."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.experiment_store import ExperimentVersion
from shared.experiments import Arm, Experiment, promoted
from shared.platform.cli import main
from shared.platform.cli.experiments import (
    ExperimentChangeError,
    format_experiment,
    read_experiment,
    rollback_target,
)

A = Experiment(name="exp", arms=(Arm(name="a", weight=1), Arm(name="b", weight=1)))
B = Experiment(name="exp", arms=(Arm(name="a", weight=0), Arm(name="b", weight=1)))


def version(experiment: Experiment, number: int, actor: str = "cli") -> ExperimentVersion:
    when = datetime(2026, 12, 1, 10, number, tzinfo=UTC)
    return ExperimentVersion(experiment, number, f"reason {number}", actor, when)


def test_a_yaml_or_json_file_reads_as_an_experiment(tmp_path: Path) -> None:
    yaml_file = tmp_path / "exp.yaml"
    yaml_file.write_text(
        "name: exp\narms:\n  - {name: a, weight: 1}\n"
        "  - {name: b, weight: 1, solution: text-classifier, model_version: 3}\n"
    )
    json_file = tmp_path / "exp.json"
    json_file.write_text(read_experiment(yaml_file).model_dump_json())
    assert read_experiment(json_file) == read_experiment(yaml_file)
    assert read_experiment(yaml_file).arms[1].model_version == 3


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("bad.json", '{"name": "exp", "arms": [', "bad.json: not JSON: line 1"),
        ("bad.yaml", "name: [unclosed", "bad.yaml: not YAML"),
        ("list.yaml", "- a\n- b\n", "list.yaml: expected a mapping"),
        (
            "weight.json",
            '{"arms": [{"name": "a", "weight": -1}]}',
            "weight.json: arms.0.weight: Input should be greater than or equal to 0",
        ),
        ("typo.yaml", "arms: [{name: a, wieght: 2}]", "typo.yaml: arms.0.wieght: Extra inputs"),
        (
            "twice.yaml",
            "arms: [{name: a}, {name: a}]",
            "twice.yaml: (experiment): Value error, experiment 'retrieval-mode' has duplicate",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_the_problem(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ExperimentChangeError) as refused:
        read_experiment(path)
    assert str(refused.value).startswith(f"{tmp_path}/{problem}")
    assert "\n" not in str(refused.value)


def test_set_with_a_bad_file_fails_in_one_line_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PILLARS_DATA_DIR", str(tmp_path))  # no platform there: never reached
    path = tmp_path / "exp.yaml"
    path.write_text("arms: [{name: a, weight: 0}]")
    assert main(["experiment", "set", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"pillars: {path}: (experiment): Value error, experiment 'retrieval-mode' "
        "needs a live (not shadow) arm with weight\n"
    )


def test_a_change_without_a_platform_says_how_to_start_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PILLARS_DATA_DIR", str(tmp_path))
    for name in ("PILLARS_KAFKA_BOOTSTRAP_SERVERS", "PILLARS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["experiment", "promote", "b"]) == 2
    assert "start it with `pillars up`" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["experiment"], ["experiment", "promote"], ["experiment", "rollback", "--to", "x"]]
)
def test_malformed_commands_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2


def test_promote_gives_one_arm_all_traffic_and_keeps_the_others_at_weight_0() -> None:
    experiment = Experiment(
        name="exp",
        arms=(
            Arm(name="a", weight=0.9),
            Arm(name="b", weight=0.1, model_version=2),
            Arm(name="s", solution="router", shadow=True),
        ),
    )
    after = promoted(experiment, "b")
    assert [(a.name, a.weight, a.shadow) for a in after.arms] == [
        ("a", 0, False),
        ("b", 1, False),
        ("s", 1, True),
    ]
    assert after.arms[1].model_version == 2
    assert promoted(experiment, "s").arms[2].shadow is False  # a shadow arm becomes live
    with pytest.raises(ValueError, match=r"no arm 'z' \(its arms: a, b, s\)"):
        promoted(experiment, "z")


def test_rollback_goes_back_to_the_newest_version_that_differs() -> None:
    history = [version(B, 3), version(B, 2), version(A, 1, actor="seed")]  # newest first
    assert rollback_target(history, None).version == 1
    assert rollback_target(history, 2).version == 2
    with pytest.raises(ExperimentChangeError, match="v3 is already in force"):
        rollback_target(history, 3)
    with pytest.raises(ExperimentChangeError, match=r"no version 9 \(there are v3, v2, v1\)"):
        rollback_target(history, 9)
    with pytest.raises(ExperimentChangeError, match="nothing to roll back to"):
        rollback_target([version(A, 2), version(A, 1)], None)


def test_show_prints_the_version_in_force_and_the_history() -> None:
    text = format_experiment([version(B, 2), version(A, 1, actor="seed")])
    assert text.splitlines()[0] == "experiment exp: v2 in force (unit user_id, salt 2026-11)"
    assert "  a                      0  rag-answerer           -  production" in text
    assert "  v2    2026-12-01 10:02:00 UTC  cli    reason 2" in text
    assert "  v1    2026-12-01 10:01:00 UTC  seed   reason 1" in text
    assert "        arms: a 1 rag-answerer; b 1 rag-answerer" in text
