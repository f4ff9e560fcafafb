"""The allowlist: exact names that all resolve, classes but for NumPy's three rebuilders,
and additions that must be names, not patterns."""

from __future__ import annotations

import importlib
import inspect

import pytest
from pydantic import ValidationError

from services.inference.config import InferenceSettings
from shared.models.allowlist import (
    ALLOWED_TYPES,
    NOT_CALLABLE,
    allowed_types,
    checked_name,
)

REBUILDERS = {
    f"numpy.{core}.{name}"
    for core in ("core", "_core")
    for name in ("multiarray._reconstruct", "multiarray.scalar", "numeric._frombuffer")
}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy.core: NumPy 1's spelling
def test_every_allowed_name_is_a_class_but_the_array_rebuilders() -> None:
    functions = set()
    for name in ALLOWED_TYPES:
        module, _, attribute = name.rpartition(".")
        found = getattr(importlib.import_module(module), attribute)
        if not inspect.isclass(found):
            functions.add(name)
    assert functions == REBUILDERS
    assert NOT_CALLABLE <= ALLOWED_TYPES


@pytest.mark.parametrize("pattern", ["sklearn.*", "numpy.testing.run?tring", "sklearn.[a-z]"])
def test_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="is a pattern; name each class in full"):
        checked_name(pattern)


@pytest.mark.parametrize("name", ["sklearn", "", "sklearn..svm", "os.system()"])
def test_partial_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="is not a fully-qualified name"):
        checked_name(name)


def test_additions_join_the_built_in_list() -> None:
    assert allowed_types([" sklearn.svm._classes.NuSVC "]) == ALLOWED_TYPES | {
        "sklearn.svm._classes.NuSVC"
    }


def test_the_setting_names_itself_when_it_holds_a_pattern(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PILLARS_MODEL_ALLOWED_TYPES", "sklearn.svm._classes.NuSVC,numpy.*")
    with pytest.raises(
        ValidationError, match=r"PILLARS_MODEL_ALLOWED_TYPES: 'numpy\.\*' is a pattern"
    ):
        InferenceSettings()
    monkeypatch.setenv("PILLARS_MODEL_ALLOWED_TYPES", '["sklearn.svm._classes.NuSVC", "a.B"]')
    assert InferenceSettings().model_allowed_types == ["sklearn.svm._classes.NuSVC", "a.B"]
