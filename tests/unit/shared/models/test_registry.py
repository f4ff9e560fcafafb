"""Registry records: the artifact's digest is taken from the file when not given."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shared.models.registry import ModelRecord, with_sha256


def record(artifact: str, sha256: str | None = None) -> ModelRecord:
    return ModelRecord(
        name="m",
        version=0,
        artifact=artifact,
        format="skops",
        licence="MIT",
        training_data="x",
        sha256=sha256,
    )


def test_the_digest_is_computed_from_the_file(tmp_path: Path) -> None:
    (tmp_path / "model.skops").write_bytes(b"model bytes")
    expected = hashlib.sha256(b"model bytes").hexdigest()
    assert with_sha256(record(f"file://{tmp_path / 'model.skops'}")).sha256 == expected


def test_a_given_digest_is_kept_in_lower_case() -> None:
    assert with_sha256(record("/nowhere", "ABCD")).sha256 == "abcd"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no artifact at .*absent\.skops to register"):
        with_sha256(record(str(tmp_path / "absent.skops")))
