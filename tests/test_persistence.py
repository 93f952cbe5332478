"""Persistence: joblib for every estimator, save_weights/load_weights for the neural ones, and
loading a model whose device is CUDA on a machine without one."""

import json
import re
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from skorch.callbacks import EarlyStopping
from skorch.exceptions import DeviceWarning
from test_common import ESTIMATORS, IDS, TINY_NN, TINY_SEQ, nan_data

from skimpute import NAOMISequenceImputer, NotMIWAEImputer, load_weights, save_weights
from skimpute._base import NeuralNetMixin
from skimpute.persist import WEIGHT_CLASSES, _digest

torch.set_num_threads(1)

NEURAL = [e for e in ESTIMATORS if isinstance(e, NeuralNetMixin)]
NEURAL_IDS = [type(e).__name__ for e in NEURAL]
OTHERS = [e for e in ESTIMATORS if not isinstance(e, NeuralNetMixin)]
X = nan_data()


def assert_same_value(a, b):
    """Same type and same value; arrays with the same dtype and entries."""
    assert type(a) is type(b)
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert_same_value(u, v)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def assert_same_results(a, b, X):
    """transform, score, sample and predict_mask_proba agree bit for bit where they exist."""
    assert np.array_equal(a.transform(X), b.transform(X))
    for method, args in [("score", ()), ("sample", (3,)), ("predict_mask_proba", ())]:
        if hasattr(a, method):
            assert hasattr(b, method)
            assert np.array_equal(getattr(a, method)(X, *args), getattr(b, method)(X, *args))


# ----------------------------------------------------------------------------------- joblib


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_joblib_round_trip(estimator, tmp_path):
    fitted = clone(estimator).fit(X)
    joblib.dump(fitted, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    assert type(loaded) is type(fitted)
    assert np.array_equal(loaded.transform(X), fitted.transform(X))


# ----------------------------------------------------------------- save_weights / load_weights


def _fit_variants():
    # every neural estimator, plus NAOMI with sample() and a DataFrame with pandas output
    yield from zip(NEURAL_IDS, NEURAL, [None] * len(NEURAL))
    yield "NAOMI-stochastic", NAOMISequenceImputer(stochastic=True, **TINY_SEQ), None
    yield "NotMIWAE-pandas", NotMIWAEImputer(**TINY_NN).set_output(transform="pandas"), "frame"
    # two modules: the generator and the discriminator (trained on complete sequences)
    adversarial = dict(adversarial=True, adversarial_epochs=1, discriminator_size=8)
    yield "NAOMI-adversarial", NAOMISequenceImputer(**adversarial, **TINY_SEQ), "complete"


@pytest.mark.parametrize("name, estimator, kind", list(_fit_variants()), ids=lambda v: v)
def test_save_load_weights_gives_the_same_estimator(name, estimator, kind, tmp_path):
    data = pd.DataFrame(X, columns=["a", "b", "c", "d"]) if kind == "frame" else X
    fitted = clone(estimator).fit(nan_data(frac=0.0) if kind == "complete" else data)
    path = tmp_path / "model.safetensors"
    save_weights(fitted, path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # nothing partial
    rng_state = torch.get_rng_state()
    loaded = load_weights(path)
    assert torch.equal(torch.get_rng_state(), rng_state)  # loading draws no global numbers
    assert type(loaded) is type(fitted)
    assert loaded.get_params() == fitted.get_params()
    fitted_attrs = {k for k in vars(fitted) if k != "net_"}
    assert fitted_attrs == {k for k in vars(loaded) if k != "net_"}
    for k in fitted_attrs - set(fitted.get_params()):
        assert_same_value(getattr(loaded, k), getattr(fitted, k))
    assert loaded.net_ is not fitted.net_
    assert loaded.net_._modules == fitted.net_._modules
    for name in fitted.net_._modules:
        a, b = (getattr(e.net_, name + "_").state_dict() for e in (fitted, loaded))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert len(loaded.net_.history) == 0
    assert_same_results(fitted, loaded, data)
    if kind == "frame":
        assert isinstance(loaded.transform(data), pd.DataFrame)
    # the loaded estimator refits like the original
    if kind != "complete":
        assert np.array_equal(clone(loaded).fit(data).transform(data), fitted.transform(data))


@pytest.mark.parametrize("estimator", OTHERS, ids=[type(e).__name__ for e in OTHERS])
def test_save_weights_refuses_estimators_without_weights(estimator, tmp_path):
    fitted = clone(estimator).fit(X)
    name = type(estimator).__name__
    with pytest.raises(TypeError, match=f"{name} has no network weights; use joblib"):
        save_weights(fitted, tmp_path / "model.safetensors")


def test_save_weights_refuses_subclasses_and_unfitted(tmp_path):
    class MyImputer(NotMIWAEImputer):
        pass

    with pytest.raises(TypeError, match="MyImputer is not one of them. Use joblib"):
        save_weights(MyImputer(**TINY_NN).fit(X), tmp_path / "m.safetensors")
    with pytest.raises(NotFittedError):
        save_weights(NotMIWAEImputer(), tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "params, where",
    [
        (dict(callbacks=[EarlyStopping(monitor="train_loss")]), r"parameter callbacks\[0\]"),
        (dict(net_params={"optimizer": torch.optim.SGD}), r"parameter net_params\['optimizer'\]"),
        (dict(random_state=np.random.RandomState(0)), "parameter random_state"),
    ],
    ids=["callbacks", "net_params", "random_state"],
)
def test_save_weights_names_a_parameter_that_is_not_plain_data(params, where, tmp_path):
    fitted = NotMIWAEImputer(**{**TINY_NN, "max_epochs": 1}).set_params(**params).fit(X)
    with pytest.raises(TypeError, match=f"cannot store the {where} of NotMIWAEImputer"):
        save_weights(fitted, tmp_path / "model.safetensors")
    assert not list(tmp_path.iterdir())


def test_plain_net_params_are_saved(tmp_path):
    fitted = NotMIWAEImputer(**TINY_NN, net_params={"optimizer__weight_decay": 1e-3}).fit(X)
    save_weights(fitted, tmp_path / "model.safetensors")
    loaded = load_weights(tmp_path / "model.safetensors")
    assert loaded.net_params == {"optimizer__weight_decay": 1e-3}
    assert np.array_equal(loaded.transform(X), fitted.transform(X))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A fitted NotMIWAEImputer, the path of its weights file, and the file's bytes."""
    fitted = NotMIWAEImputer(**TINY_NN).fit(X)
    path = tmp_path_factory.mktemp("weights") / "model.safetensors"
    save_weights(fitted, path)
    return fitted, path, path.read_bytes()


def _rewrite(src, dst, change):
    """Copy a weights file with its record changed by `change`, with a valid checksum."""
    tensors = load_file(src)
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        record = json.loads(f.metadata()["skimpute"])
    change(record)
    record["sha256"] = _digest(tensors, record)
    save_file(tensors, str(dst), metadata={"skimpute": json.dumps(record)})


def test_truncated_file_is_refused(saved, tmp_path):
    _, _, content = saved
    for cut in [10, len(content) // 2, len(content) - 1]:
        path = tmp_path / "truncated.safetensors"
        path.write_bytes(content[:cut])
        with pytest.raises(ValueError, match="not a readable safetensors file.*truncated"):
            load_weights(path)


def test_modified_bytes_are_refused(saved, tmp_path):
    fitted, _, content = saved
    path = tmp_path / "modified.safetensors"
    # a weight changed (the tensors lie at the end of the file)
    data = bytearray(content)
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match the checksum"):
        load_weights(path)
    # the record changed by hand (same length), e.g. another learning rate
    lr = b'\\"lr\\": ' + json.dumps(fitted.lr).encode()  # as escaped in the header
    assert content.count(lr) == 1
    path.write_bytes(content.replace(lr, lr[:-1] + b"9"))
    with pytest.raises(ValueError, match="does not match the checksum"):
        load_weights(path)


def test_unknown_class_is_refused(saved, tmp_path):
    _, src, _ = saved
    for name in ["MissForestImputer", "Pipeline", "os.system", None]:
        dst = tmp_path / "other.safetensors"
        _rewrite(src, dst, lambda record: record.update({"class": name}))
        with pytest.raises(ValueError, match=f"names the class {name!r}, which load_weights"):
            load_weights(dst)
    assert "MissForestImputer" not in WEIGHT_CLASSES


def test_other_files_are_refused(saved, tmp_path):
    _, src, _ = saved
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ValueError, match="not one written by skimpute.save_weights"):
        load_weights(plain)
    newer = tmp_path / "newer.safetensors"
    _rewrite(src, newer, lambda record: record.update({"format_version": 99}))
    with pytest.raises(ValueError, match="format version 99.*Upgrade skimpute"):
        load_weights(newer)
    bad_params = tmp_path / "bad_params.safetensors"
    _rewrite(src, bad_params, lambda record: record["params"].update({"n_layers": 3}))
    with pytest.raises(ValueError, match="does not fit NotMIWAEImputer.*n_layers"):
        load_weights(bad_params)
    with pytest.raises(FileNotFoundError):
        load_weights(tmp_path / "missing.safetensors")


def test_weights_that_do_not_fit_the_network_are_refused(saved, tmp_path):
    _, src, _ = saved
    dst = tmp_path / "wider.safetensors"
    _rewrite(src, dst, lambda record: record["params"].update({"hidden_layer_sizes": [16]}))
    with pytest.raises(ValueError, match="do not fit the network that NotMIWAEImputer builds"):
        load_weights(dst)


def test_other_skimpute_version_warns(saved, tmp_path):
    fitted, src, _ = saved
    dst = tmp_path / "old.safetensors"
    _rewrite(src, dst, lambda record: record.update({"skimpute_version": "0.0.1"}))
    with pytest.warns(UserWarning, match="written by skimpute 0.0.1"):
        loaded = load_weights(dst)
    assert np.array_equal(loaded.transform(X), fitted.transform(X))


# ------------------------------------------------------------------------ CUDA-trained models


def test_load_weights_of_a_cuda_estimator_gives_a_cpu_estimator(tmp_path):
    # the weights are moved to the CPU when saved; here the estimator only says "cuda"
    fitted = NotMIWAEImputer(**TINY_NN).fit(X)
    X_hat = fitted.transform(X)
    fitted.set_params(device="cuda")
    save_weights(fitted, tmp_path / "model.safetensors")
    loaded = load_weights(tmp_path / "model.safetensors", device="cpu")
    assert loaded.device == "cpu" and str(loaded.net_.device) == "cpu"
    assert all(p.device.type == "cpu" for p in loaded.net_.module_.parameters())
    assert np.array_equal(loaded.transform(X), X_hat)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without CUDA")
@pytest.mark.parametrize("estimator", NEURAL, ids=NEURAL_IDS)
def test_pickled_cuda_estimator_loads_on_cpu(estimator, tmp_path):
    fitted = clone(estimator).fit(X)
    X_hat = fitted.transform(X)
    # what a model fitted with device="cuda" records (its tensors are on the CPU here)
    fitted.set_params(device="cuda")
    fitted.net_.device = "cuda"
    joblib.dump(fitted, tmp_path / "model.joblib")
    with pytest.warns(DeviceWarning) as caught:
        loaded = joblib.load(tmp_path / "model.joblib")
    assert any("no CUDA devices are available" in str(w.message) for w in caught)
    assert str(loaded.net_.device) == "cpu"
    assert loaded.device == "cuda"  # the parameter is as saved: set_params(device="cpu") to refit
    assert np.array_equal(loaded.transform(X), X_hat)


def test_guide_examples_run(tmp_path, monkeypatch):
    # the code blocks of docs/persistence.rst, in order, in a scratch folder
    text = (Path(__file__).resolve().parents[1] / "docs" / "persistence.rst").read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:(?:    .*)?\n)+)", text)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        source = "\n".join(line[4:] for line in block.splitlines()) + "\n"
        exec(compile(source, "docs/persistence.rst", "exec"), namespace)
    assert namespace["on_cpu"].device == "cpu"
