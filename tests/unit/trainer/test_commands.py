"""`pillars train --from FILE`: a file's problems end in one line naming the line or the
label, before anything is stored or asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.trainer.labelled_file import (
    FileProblem,
    check_counts,
    check_known_labels,
    read_labelled_file,
)
from shared.platform.cli import main

pytestmark = pytest.mark.loop


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def good_lines(per_label: int = 5) -> list[str]:
    return [
        json.dumps({"text": f"{label} text {i}", "label": label})
        for i in range(per_label)
        for label in ("spam", "ham")
    ]


def test_a_good_file_becomes_rows_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path / "mail.jsonl", [*good_lines(), ""])
    rows = read_labelled_file(path, tenant="docs", dataset="file:mail")
    assert len(rows) == 10
    assert (rows[0].request_id, rows[0].text, rows[0].label) == ("line-1", "spam text 0", "spam")
    assert [r.labelled_at for r in rows] == sorted(r.labelled_at for r in rows)
    assert {(r.tenant, r.dataset, r.user_id) for r in rows} == {("docs", "file:mail", None)}
    again = read_labelled_file(path, tenant="docs", dataset="file:mail")
    assert again == rows  # the same file, the same rows (and snapshot hash)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", r"mail.jsonl:3: not a JSON object"),
        ('["text", "label"]', r'mail.jsonl:3: needs a non-empty string "text"'),
        ('{"text": "hello"}', r'mail.jsonl:3: needs a non-empty string "label"'),
        ('{"text": "", "label": "spam"}', r'mail.jsonl:3: needs a non-empty string "text"'),
        ('{"text": "hello", "label": 3}', r'mail.jsonl:3: needs a non-empty string "label"'),
    ],
    ids=["not-json", "not-an-object", "no-label", "empty-text", "label-not-text"],
)
def test_a_malformed_line_is_named(tmp_path: Path, line: str, problem: str) -> None:
    lines = good_lines()
    path = write(tmp_path / "mail.jsonl", [*lines[:2], line, *lines[2:]])
    with pytest.raises(FileProblem, match=problem):
        read_labelled_file(path, tenant="docs", dataset="file:mail")


def test_too_few_examples_of_a_label_names_it(tmp_path: Path) -> None:
    path = tmp_path / "mail.jsonl"
    rows = read_labelled_file(
        write(path, [*good_lines(), '{"text": "t", "label": "phish"}']),
        tenant="docs",
        dataset="file:mail",
    )
    with pytest.raises(FileProblem, match=r"'phish' has 1; each label needs at least 5"):
        check_counts(rows, 5, path)
    check_counts(rows[:-1], 5, path)
    with pytest.raises(FileProblem, match="every line has the label 'spam'"):
        check_counts(rows[:1], 1, path)


def test_labels_a_known_model_does_not_have_are_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path / "mail.jsonl", good_lines())
    rows = read_labelled_file(path, tenant="docs", dataset="file:mail")
    check_known_labels(rows, ("ham", "spam"), "mail", path)
    check_known_labels(rows, (), "mail", path)  # a new name: any labels
    with pytest.raises(FileProblem) as refused:
        check_known_labels(rows, ("ham", "phish"), "mail", path)
    message = str(refused.value)
    assert "labels 'mail' does not know: 'spam'" in message
    assert "labels of 'mail' the file lacks: 'phish'" in message
    assert "train under a new --name" in message


def test_the_command_refuses_a_bad_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "mail.jsonl", ["{oops", *good_lines()])
    code = main(["--data-dir", str(tmp_path), "train", "--from", str(path), "--name", "mail"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"pillars: {path}:1: not a JSON object (Expecting property name enclosed in double quotes)"
    ]


def test_the_command_needs_a_name_for_someone_elses_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--data-dir", str(tmp_path), "train", "--from-feedback"])
    assert code == 2
    assert "name the model to train with --name NAME" in capsys.readouterr().err
