"""The UBJSON reader: XGBoost's files parse, malformed ones do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xgboost

from shared.models.ubjson import UbjsonError, read_ubjson


def test_an_xgboost_model_parses(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((50, 3))
    xgboost.XGBClassifier(n_estimators=5).fit(x, x[:, 0] > 0).save_model(tmp_path / "m.ubj")
    model = read_ubjson((tmp_path / "m.ubj").read_bytes())
    assert isinstance(model, dict)
    assert set(model) == {"learner", "version"}


def test_values_and_containers_decode() -> None:
    data = b"{i\x01aSi\x02hii\x01bi\x07i\x01c[TFZ]i\x01d[$U#i\x03\x01\x02\x03}"
    assert read_ubjson(data) == {"a": "hi", "b": 7, "c": [True, False, None], "d": None}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[" * 100, "nested deeper than 64"),
        (b"Si\x05ab", "truncated"),
        (b"[$d#L" + (2**62).to_bytes(8, "big"), "truncated"),
        (b"Si\xfaabc", "negative length"),
        (b"[}", "closed by"),
        (b"TT", "1 bytes after the value"),
        (b"Q", "unknown marker"),
    ],
)
def test_malformed_files_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(UbjsonError, match=reason):
        read_ubjson(data)
