"""Hostile model files: each is refused at admission, without being loaded, and admitting
and loading every one of them as inference would (in a child process) runs no payload."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import skops.io

from shared.models.admission import AdmissionPolicy, ModelRefused, admit
from shared.models.registry import ModelRecord
from tests.security.corpus import Case, build_corpus, write_manifest
from tests.security.hostile_formats import OVER_LIMIT

pytestmark = pytest.mark.security

ROOT = Path(__file__).parents[2]
NOT_ALLOWED = "which the allowlist does not hold"
GETNM_NODES = (
    "constructor-from-reduce",
    "loss-node",
    "ndarray-node",
    "list-node",
    "set-node",
    "tuple-node",
    "dict-key-type",
    "dict-node-class",
    "object-node",
    "function-node",
    "defaultdict-factory",
)
EXPECTED = {
    **{
        f"pickle-runstring-protocol-{p}": rf"numpy\.testing\.runstring, {NOT_ALLOWED}"
        for p in range(6)
    },
    "pickle-shell-getnm": rf"numpy\.distutils\.lib2def\.getnm, {NOT_ALLOWED}",
    "pickle-shell-exec-command": rf"exec_command\._exec_command, {NOT_ALLOWED}",
    "pickle-sklearn-run-python-script": rf"assert_run_python_script_without_output, {NOT_ALLOWED}",
    "pickle-numpy-measure": rf"numpy\.testing\.measure, {NOT_ALLOWED}",
    "pickle-stack-global-memo-names": rf"numpy\.testing\.runstring, {NOT_ALLOWED}",
    "pickle-stack-global-memo-overwrite": rf"numpy\.testing\.runstring, {NOT_ALLOWED}",
    "pickle-stack-global-built-name": "imports a name it builds at load time",
    "pickle-nested-reduce": rf"getnm, {NOT_ALLOWED}",
    "pickle-build-planted-setstate": "sets the state of an object after handing it out",
    "pickle-getattr-chain": "calls something that is not a name it imported",
    "pickle-attrgetter-chain": "calls something that is not a name it imported",
    "pickle-partial-chain": "calls something that is not a name it imported",
    "pickle-inst-opcode": "uses INST",
    "pickle-obj-opcode": "uses OBJ",
    "pickle-extension-registry": "uses EXT1",
    "pickle-persistent-id": "uses BINPERSID",
    "pickle-dtype-mutated-after-use": "sets the state of an object after handing it out",
    "pickle-ndarray-over-raw-bytes": "calls numpy.ndarray with arguments",
    "pickle-ndarray-newobj-with-buffer": r"makes a numpy\.ndarray with arguments",
    "pickle-class-attribute-poison": r"sets the state of the imported .*link\.LogitLink",
    "pickle-joblib-dump": "joblib files are not read",
    "skops-constructor-from-reduce-runstring": rf"numpy\.testing\.runstring, {NOT_ALLOWED}",
    **{f"skops-{name}-getnm": rf"lib2def\.getnm, {NOT_ALLOWED}" for name in GETNM_NODES},
    "skops-random-state-node-runstring": rf"numpy\.testing\.runstring, {NOT_ALLOWED}",
    "skops-random-generator-bit-generator-name": rf"numpy\.random\.seed, {NOT_ALLOWED}",
    "skops-type-node-runstring": rf"numpy\.testing\.runstring, {NOT_ALLOWED}",
    "skops-partial-node-getnm": rf"functools\.partial, .*getnm, {NOT_ALLOWED}",
    "skops-method-node-estimator-fit": rf"LogisticRegression\.fit, {NOT_ALLOWED}",
    "skops-operator-methodcaller": rf"operator\.methodcaller, {NOT_ALLOWED}",
    "skops-ndarray-over-raw-bytes": "calls numpy.ndarray with values from the file",
    "skops-dtype-setstate-via-loss-node": r"sets the state of a numpy\.dtype",
    "skops-old-protocol-function-node": "written with skops protocol 0",
    "skops-unknown-loader": "'ShinyNewNode' node pillars does not read",
    "skops-zip-bomb": "unpacks to .* bytes, over the 8388608 limit",
    "onnx-external-data-absolute": "reads external data from .*, outside the model's folder",
    "onnx-external-data-traversal": r"reads external data from '\.\./secret\.bin', outside",
    "onnx-external-data-beside-model": "keeps its data in 'weights.bin'; save the model as one",
    "onnx-custom-operator-domain": "custom operator domains 'com.example.native'",
    "onnx-not-a-model": "it is not an ONNX model",
    "safetensors-offsets-beyond-file": r"tensor 'w' has offsets \[0, 4096\] outside the 16 bytes",
    "safetensors-overlapping-tensors": "tensor 'b' overlaps",
    "safetensors-gap-between-tensors": "tensor 'b' leaves a gap",
    "safetensors-shape-disagrees": r"does not hold F32 \[1000, 1000\]",
    "safetensors-header-length-absurd": "header length 9223372036854775808 is beyond",
    "safetensors-header-not-json": "its header is not JSON",
    "safetensors-duplicate-tensor": "names a key twice",
    "xgboost-ubj-truncated": "does not parse as xgboost-ubj",
    "xgboost-ubj-garbage": "does not parse as xgboost-ubj",
    "xgboost-json-not-json": "does not parse as xgboost-json",
    "xgboost-json-no-learner": "not an XGBoost model",
    "oversized-skops": "is 8388609 bytes, which is over the 8388608-byte limit",
    "changed-after-registration": "changed since it was registered",
}
# Pickles enabled: the corpus tests what stands when an operator turns them on.
POLICY = AdmissionPolicy(allow_pickle=True, max_bytes=OVER_LIMIT)


def record(case: Case) -> ModelRecord:
    return ModelRecord(
        name=case.name,
        version=1,
        artifact=case.path,
        format=case.format,
        licence="MIT",
        training_data="hostile",
        labels=("a", "b"),
        sha256=case.sha256,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    return {case.name: case for case in build_corpus(tmp_path_factory.mktemp("hostile"))}


def test_every_hostile_case_has_an_expected_reason(corpus: dict[str, Case]) -> None:
    assert sorted(corpus) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_admission_refuses_without_loading(
    corpus: dict[str, Case], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*_: object, **__: object) -> None:
        raise AssertionError("admission loaded the file")

    for module, attribute in [(pickle, "Unpickler"), (pickle, "_Unpickler"), (pickle, "loads")]:
        monkeypatch.setattr(module, attribute, never)
    monkeypatch.setattr(skops.io, "loads", never)
    case = corpus[name]
    with pytest.raises(ModelRefused, match=EXPECTED[name]) as refused:
        admit(record(case), POLICY)
    assert str(refused.value).startswith(f"{name} v1: ")
    assert not Path(case.marker).exists()


def test_admitting_and_loading_each_in_a_child_runs_no_payload(
    corpus: dict[str, Case], tmp_path: Path
) -> None:
    manifest = write_manifest(list(corpus.values()), tmp_path / "manifest.json")
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests/security/attempt_loads.py"), str(manifest)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]  # a memory corruption would end it early
    results = {r["case"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert sorted(results) == sorted(corpus)
    for name, case in corpus.items():
        result = results[name]
        assert "error" not in result, result
        assert result["admission"].startswith("refused: "), result
        assert result["load"].startswith("refused: "), result
        if case.format == "pickle":
            assert result["loader_alone"].startswith("refused: "), result
        assert not Path(case.marker).exists(), f"{name} ran its payload"


UNSAFE_LOADS = """
import json, pickle, sys
import skops.io
for path in json.loads(sys.argv[1]):
    data = open(path, "rb").read()
    try:
        if path.endswith(".pkl"):
            pickle.loads(data)
        else:  # trusting what skops reports, as admission did before the allowlist
            skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    except Exception:
        pass
"""


def test_the_payloads_are_real(tmp_path: Path) -> None:
    """Loaded the ordinary way, the corpus' code and shell payloads do run."""
    corpus = {case.name: case for case in build_corpus(tmp_path)}
    chosen = [
        *(f"pickle-runstring-protocol-{p}" for p in range(6)),
        "pickle-shell-getnm",
        "pickle-shell-exec-command",
        "pickle-numpy-measure",
        "pickle-stack-global-memo-overwrite",
        "pickle-build-planted-setstate",
        "pickle-partial-chain",
        *(
            f"skops-{name}-getnm"
            for name in ("constructor-from-reduce", "loss-node", "ndarray-node", "list-node")
        ),
        "skops-set-node-getnm",
        "skops-dict-key-type-getnm",
    ]
    paths = json.dumps([corpus[name].path for name in chosen])
    subprocess.run(
        [sys.executable, "-c", UNSAFE_LOADS, paths], cwd=tmp_path, timeout=120, check=True
    )
    assert [n for n in chosen if not Path(corpus[n].marker).exists()] == []
