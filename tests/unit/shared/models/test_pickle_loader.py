"""The restricted unpickler: real models load, with fresh dtypes, and nothing else does."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree._tree import NODE_DTYPE

from shared.models.allowlist import ALLOWED_TYPES
from shared.models.pickle_loader import load_pickle

RNG = np.random.default_rng(0)
X = RNG.standard_normal((60, 4))


def test_a_forest_loads_with_its_tree_nodes_dtype_rebuilt() -> None:
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, X[:, 0] > 0)
    loaded = load_pickle(pickle.dumps(forest, protocol=5), ALLOWED_TYPES)
    assert isinstance(loaded, RandomForestClassifier)
    assert loaded.estimators_[0].tree_.__getstate__()["nodes"].dtype == NODE_DTYPE
    assert np.array_equal(loaded.predict(X), forest.predict(X))


def test_numpy_1_names_load_without_the_deprecated_shim() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    data = pickle.dumps(array, protocol=3).replace(b"numpy._core", b"numpy.core")
    assert b"numpy.core.multiarray" in data
    assert np.array_equal(load_pickle(data, ALLOWED_TYPES), array)


def test_a_name_off_the_allowlist_is_refused() -> None:
    with pytest.raises(pickle.UnpicklingError, match=r"posixpath\.join is not on the allowlist"):
        load_pickle(pickle.dumps(__import__("posixpath").join), ALLOWED_TYPES)


def test_an_allowed_name_reached_through_an_attribute_path_is_refused() -> None:
    dotted = b"\x80\x04\x8c\x07sklearn\x8c\x11pipeline.Pipeline\x93."
    with pytest.raises(pickle.UnpicklingError, match="named through an attribute path"):
        load_pickle(dotted, ALLOWED_TYPES | {"sklearn.pipeline.Pipeline"})
