"""skops files: every node's name read from the schema, and loading with exactly what skops
reports and the allowlist holds."""

from __future__ import annotations

import numpy as np
import pytest
import skops.io
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shared.models.allowlist import ALLOWED_TYPES
from shared.models.skops_files import load_skops, scan_skops, skops_trusted

X = np.random.default_rng(0).standard_normal((50, 4))


def test_a_forest_names_its_trees_and_loads_trusting_only_them() -> None:
    forest = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=2))
    data = skops.io.dumps(forest.fit(X, X[:, 0] > 0))
    scan = scan_skops(data, max_bytes=2**30)
    assert scan.problem is None
    assert {"sklearn.pipeline.Pipeline", "sklearn.tree._tree.Tree"} <= set(scan.names)
    assert set(scan.names) <= ALLOWED_TYPES
    trusted = skops_trusted(data, ALLOWED_TYPES)
    assert trusted == ("sklearn.tree._tree.Tree",)  # skops trusts the rest by default
    assert np.array_equal(load_skops(data, trusted).predict(X), forest.predict(X))


def test_what_skops_reports_outside_the_allowlist_is_refused() -> None:
    data = skops.io.dumps(RandomForestClassifier(n_estimators=1).fit(X, X[:, 0] > 0))
    with pytest.raises(ValueError, match=r"sklearn\.tree\._tree\.Tree, which the allowlist"):
        skops_trusted(data, ALLOWED_TYPES - {"sklearn.tree._tree.Tree"})


def test_a_file_that_is_not_a_zip_is_refused() -> None:
    scan = scan_skops(b"PK not really", max_bytes=2**30)
    assert scan.problem is not None
    assert scan.problem.startswith("is not a skops file pillars can read")
