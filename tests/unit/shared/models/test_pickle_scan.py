"""The pickle scan: every name a pickle imports, read without unpickling it."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from shared.models.pickle_scan import scan_pickle


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    x = np.random.default_rng(0).standard_normal((30, 3))
    return LogisticRegression().fit(x, x[:, 0] > 0)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_model_pickle_lists_its_imports_in_every_protocol(
    model: LogisticRegression, protocol: int
) -> None:
    scan = scan_pickle(pickle.dumps(model, protocol=protocol))
    assert "sklearn.linear_model._logistic.LogisticRegression" in scan.names
    assert "numpy.dtype" in scan.names
    assert scan.problem is None or protocol == 2  # protocol 2 arrays go through _codecs


def test_bytes_after_the_end_are_refused(model: LogisticRegression) -> None:
    scan = scan_pickle(pickle.dumps(model) + b"trailing")
    assert scan.problem is not None
    assert "8 bytes after the pickle's end" in scan.problem


def test_a_truncated_pickle_is_refused(model: LogisticRegression) -> None:
    scan = scan_pickle(pickle.dumps(model)[:-10])
    assert scan.problem is not None
    assert scan.problem.startswith("is not a pickle pillars can read")


def test_a_memoised_name_fetched_back_is_still_seen() -> None:
    strings = b"\x8c\x0dnumpy.testing\x94\x8c\x09runstring\x94"
    data = b"\x80\x04" + strings + b"0" + b"0" + b"h\x00h\x01\x93."  # POP both, fetch back
    scan = scan_pickle(data)
    assert scan.names == ("numpy.testing.runstring",)
    assert scan.problem is None
