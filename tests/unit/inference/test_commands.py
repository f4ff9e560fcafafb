"""`pillars models check`: what a file would construct, and admitted (0) or refused (1)."""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from services.inference.commands import add_commands
from tests.security.hostile_pickles import shell_getnm


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="pillars")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.run(args)
    return code


def fitted() -> LogisticRegression:
    x = np.random.default_rng(0).standard_normal((30, 3))
    return LogisticRegression().fit(x, x[:, 0] > 0)


def test_an_admissible_skops_file_lists_its_types_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skops.io.dump(fitted(), tmp_path / "model.skops")
    assert run("models", "check", str(tmp_path / "model.skops")) == 0
    out = capsys.readouterr().out
    assert "(skops, " in out
    assert "  sklearn.linear_model._logistic.LogisticRegression\n" in out
    assert out.splitlines()[-1].startswith("admitted")


def test_a_gadget_pickle_is_refused_with_one_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(shell_getnm(tmp_path / "marker"))
    assert run("models", "check", str(artifact), "--format", "pickle") == 1
    out = capsys.readouterr().out
    assert "  numpy.distutils.lib2def.getnm  ✗\n" in out
    last = out.splitlines()[-1]
    assert last.startswith("refused: ")
    assert "getnm, which the allowlist does not hold" in last
    assert not (tmp_path / "marker").exists()


def test_a_clean_pickle_is_refused_while_pickles_are_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(fitted(), protocol=5))
    assert run("models", "check", str(tmp_path / "model.pkl")) == 1
    assert "pickles are off (PILLARS_ALLOW_PICKLE_MODELS)" in capsys.readouterr().out


def test_a_missing_file_or_an_unknown_suffix_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("models", "check", str(tmp_path / "absent.skops")) == 1
    assert capsys.readouterr().out == f"refused: no artifact at {tmp_path / 'absent.skops'}\n"
    (tmp_path / "model.bin").write_bytes(b"x")
    assert run("models", "check", str(tmp_path / "model.bin")) == 2
    assert "say which format it is with --format" in capsys.readouterr().err
