"""Save and load the neural imputers' weights in the safetensors format, without pickle.

:func:`save_weights` writes one ``.safetensors`` file: the tensors of the fitted network (its
``state_dict``, moved to the CPU) and the fitted arrays of the estimator (``mean_``,
``scale_``, ...), plus, in the file's text metadata, a JSON record of the estimator's class,
its parameters and its other fitted attributes. :func:`load_weights` reads it back without
running any code from the file: it accepts only the classes of skimpute's neural imputers,
rebuilds the estimator and its network from the saved parameters, and loads the weights, so
that ``transform``, ``score`` and ``sample`` give the same results, bit for bit on the CPU.

The format needs the optional ``safetensors`` package (``pip install skimpute[persist]``).
The whole estimator can also be saved with :mod:`joblib` or :mod:`pickle`, which need no
extra package but run code when loaded (see the user guide, "Saving, loading and training
faults").
"""

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from skimpute._base import NeuralNetMixin
from skimpute.baselines import (
    AutoregressiveGRUImputer,
    KNNSequenceImputer,
    LinearInterpolationImputer,
    MissForestImputer,
)
from skimpute.gnr import GNRImputer
from skimpute.gpsi import GPSIImputer
from skimpute.naomi import NAOMISequenceImputer
from skimpute.notmiwae import NotMIWAEImputer

__all__ = ["load_weights", "save_weights"]

#: the name of the format, in the file's metadata
FORMAT = "skimpute.weights"
#: the version of the format that this module writes (and the highest it reads)
FORMAT_VERSION = 1
#: the metadata key holding the JSON record
_METADATA_KEY = "skimpute"

#: the classes whose weights can be saved and loaded, by name: the only ones load_weights builds
WEIGHT_CLASSES = {
    cls.__name__: cls
    for cls in (
        AutoregressiveGRUImputer,
        GNRImputer,
        GPSIImputer,
        NAOMISequenceImputer,
        NotMIWAEImputer,
    )
}
#: skimpute estimators without a network (joblib or pickle only)
_NO_WEIGHTS = (KNNSequenceImputer, LinearInterpolationImputer, MissForestImputer)


def _safetensors():
    """Import :mod:`safetensors.torch`, or raise an ImportError that says how to install it."""
    try:
        import safetensors.torch
    except ImportError as err:  # pragma: no cover - the test environment has it
        raise ImportError(
            "save_weights and load_weights need the safetensors package: "
            "pip install 'skimpute[persist]' (or pip install safetensors)."
        ) from err
    return safetensors


class _NotJSONError(TypeError):
    """A value that the JSON record cannot hold; ``label`` says where it is."""

    def __init__(self, label, value):
        super().__init__(label, value)
        self.label, self.value = label, value


def _encode(value, label, key, tensors):
    """Turn `value` into JSON data, putting its numeric arrays into `tensors` under `key`.

    Parameters
    ----------
    value : object
        A parameter or fitted attribute (or a part of one).
    label : str
        Where the value is, for the error message (``"parameter callbacks"``).
    key : str
        Name of the tensor holding `value` if it is a numeric array (a prefix for its parts).
    tensors : dict of str to Tensor
        Where the arrays go.

    Returns
    -------
    data : object
        JSON data: plain values as they are; tuples, dicts, numeric arrays and arrays of
        strings as ``{"__tuple__": ...}``, ``{"__dict__": ...}``, ``{"__array__": key}`` and
        ``{"__strings__": ..., "dtype": ...}``.

    Raises
    ------
    _NotJSONError
        If `value` (or a part of it) is none of these, such as a callback object.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return _encode(value.item(), label, key, tensors)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            tensors[key] = torch.from_numpy(np.array(value, copy=True, order="C"))
            return {"__array__": key}
        if value.dtype.kind in "OU" and all(isinstance(v, str) for v in value.flat):
            return {"__strings__": value.tolist(), "dtype": value.dtype.str}
    elif isinstance(value, (tuple, list)):
        items = [_encode(v, f"{label}[{i}]", f"{key}.{i}", tensors) for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    elif isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {
            "__dict__": {
                k: _encode(v, f"{label}[{k!r}]", f"{key}.{k}", tensors) for k, v in value.items()
            }
        }
    raise _NotJSONError(label, value)


def _decode(data, tensors):
    """Invert :func:`_encode`.

    Parameters
    ----------
    data : object
        JSON data written by :func:`_encode`.
    tensors : dict of str to Tensor
        The tensors of the file.

    Returns
    -------
    value : object
        The value, numeric arrays as NumPy arrays of their saved dtype.
    """
    if isinstance(data, list):
        return [_decode(v, tensors) for v in data]
    if not isinstance(data, dict):
        return data
    if "__tuple__" in data:
        return tuple(_decode(v, tensors) for v in data["__tuple__"])
    if "__dict__" in data:
        return {k: _decode(v, tensors) for k, v in data["__dict__"].items()}
    if "__array__" in data:
        return np.array(tensors[data["__array__"]].numpy(), copy=True)
    if "__strings__" in data:
        return np.asarray(data["__strings__"], dtype=np.dtype(data["dtype"]))
    raise ValueError(f"unknown entry in the metadata: {data!r}")


def _digest(tensors, record):
    """SHA-256 of the tensors (names, dtypes, shapes, bytes) and of the record but its checksum."""
    sha = hashlib.sha256()
    rest = {k: v for k, v in record.items() if k != "sha256"}
    sha.update(json.dumps(rest, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        sha.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        sha.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return sha.hexdigest()


def _check_savable(estimator):
    """Raise a TypeError unless `estimator` is one of :data:`WEIGHT_CLASSES`."""
    name = type(estimator).__name__
    if WEIGHT_CLASSES.get(name) is type(estimator):
        return
    if isinstance(estimator, _NO_WEIGHTS) or not isinstance(estimator, NeuralNetMixin):
        raise TypeError(
            f"{name} has no network weights; use joblib to save it "
            "(joblib.dump(estimator, path), then joblib.load(path))."
        )
    raise TypeError(
        f"save_weights saves only skimpute's own neural imputers ({', '.join(WEIGHT_CLASSES)}), "
        f"which load_weights can rebuild; {name} is not one of them. Use joblib to save it."
    )


def save_weights(estimator, path):
    """Save a fitted neural imputer's weights, parameters and fitted attributes, without pickle.

    The file is a single `safetensors <https://huggingface.co/docs/safetensors>`_ file. Its
    tensors are the ``state_dict`` of every module of ``estimator.net_`` (moved to the CPU) and
    the fitted arrays of the estimator (``mean_``, ``scale_``, ...); its metadata holds a JSON
    record of the format version, the skimpute version, the class name,
    ``estimator.get_params(deep=False)``, the other fitted attributes (``n_features_in_``,
    ``feature_names_in_``, ``n_epochs_``, the transform seed, ...) and a SHA-256 checksum of
    the tensors. The training history (``net_.history``) and the optimiser state are not
    saved. :func:`load_weights` reads it back.

    Parameters
    ----------
    estimator : NotMIWAEImputer, GNRImputer, GPSIImputer, NAOMISequenceImputer or \
            AutoregressiveGRUImputer
        The fitted estimator. Every parameter must be plain data (numbers, strings, None and
        tuples, lists or dicts of them); in particular ``callbacks`` must be None or empty and
        ``random_state`` an int or None.
    path : str or os.PathLike
        Where to write the file (conventionally ending in ``.safetensors``); an existing file
        is replaced. The file is written next to it first and renamed, so a failed save leaves
        no partial file at `path`.

    Raises
    ------
    TypeError
        If `estimator` is not one of the classes above (the non-neural imputers have no
        weights: save them with :mod:`joblib`), or if a parameter or fitted attribute is not
        plain data; the message names it.
    sklearn.exceptions.NotFittedError
        If `estimator` is not fitted.
    ImportError
        If the ``safetensors`` package is not installed.

    See Also
    --------
    load_weights : Load the file back.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skimpute import NotMIWAEImputer, save_weights, load_weights
    >>> X = np.array([[1.0, 2.0], [np.nan, 3.0], [7.0, np.nan], [4.0, 5.0]])
    >>> imputer = NotMIWAEImputer(max_epochs=2, n_imputation_samples=10, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "imputer.safetensors")
    >>> save_weights(imputer, path)
    >>> loaded = load_weights(path)
    >>> bool(np.array_equal(loaded.transform(X), imputer.transform(X)))
    True
    """
    _check_savable(estimator)
    check_is_fitted(estimator)
    safetensors = _safetensors()
    from skimpute import __version__

    tensors = {}
    params = estimator.get_params(deep=False)
    try:
        params_data = {
            k: _encode(v, f"parameter {k}", f"params.{k}", tensors) for k, v in params.items()
        }
        attributes = {
            k: _encode(v, f"fitted attribute {k}", f"attributes.{k}", tensors)
            for k, v in vars(estimator).items()
            if k not in params and k != "net_"
        }
    except _NotJSONError as err:
        raise TypeError(
            f"save_weights cannot store the {err.label} of {type(estimator).__name__}, which "
            f"holds a {type(err.value).__name__} ({err.value!r}): the file keeps only weights "
            "and plain data (numbers, strings, None, and tuples, lists or dicts of them). Set "
            "it to plain data before saving (callbacks act only during fit: "
            "estimator.set_params(callbacks=None); random_state: an int or None), or save the "
            "whole estimator with joblib."
        ) from None
    net = estimator.net_
    modules = list(net._modules)
    for name in modules:
        for k, t in getattr(net, name + "_").state_dict().items():
            tensors[f"net.{name}.{k}"] = t.detach().to("cpu", copy=True).contiguous()
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skimpute_version": __version__,
        "torch_version": torch.__version__,
        "class": type(estimator).__name__,
        "params": params_data,
        "attributes": attributes,
        "modules": modules,
    }
    record["sha256"] = _digest(tensors, record)
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        safetensors.torch.save_file(
            tensors, str(partial), metadata={_METADATA_KEY: json.dumps(record)}
        )
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()


def _read(path, safetensors):
    """Return the tensors (on the CPU) and the JSON record of a file, or raise a ValueError."""
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except safetensors.SafetensorError as err:
        raise ValueError(
            f"{path} is not a readable safetensors file ({err}); it may be truncated or corrupted."
        ) from None
    if _METADATA_KEY not in metadata:
        raise ValueError(
            f"{path} is a safetensors file but not one written by skimpute.save_weights (its "
            f"metadata has no {_METADATA_KEY!r} entry)."
        )
    try:
        record = json.loads(metadata[_METADATA_KEY])
        ok = record["format"] == FORMAT and isinstance(record["format_version"], int)
    except (ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        raise ValueError(f"the skimpute metadata of {path} is not valid: the file was altered.")
    if record["format_version"] > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {record['format_version']}, written by skimpute "
            f"{record.get('skimpute_version')}; this skimpute reads versions up to "
            f"{FORMAT_VERSION}. Upgrade skimpute to load it."
        )
    if _digest(tensors, record) != record.get("sha256"):
        raise ValueError(
            f"the content of {path} does not match the checksum saved with it: the file was "
            "modified or corrupted after it was written."
        )
    return tensors, record


def load_weights(path, device="cpu"):
    """Load an estimator saved by :func:`save_weights`, without pickle.

    The file's class name is checked against skimpute's neural imputers (any other is
    refused), the estimator is rebuilt from the saved parameters, its network is rebuilt by
    the estimator's own code from the saved network arguments and initialised, and the saved
    weights and fitted attributes are loaded. No code stored in the file is run. On the CPU,
    ``transform``, ``score``, ``sample`` (and ``predict_mask_proba`` where there is one) give
    the results of the saved estimator bit for bit.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save_weights`.
    device : str or torch.device, default="cpu"
        Where to put the network; it also becomes the estimator's ``device`` parameter (so a
        model trained on ``"cuda"`` loads as a CPU estimator by default).

    Returns
    -------
    estimator : NotMIWAEImputer, GNRImputer, GPSIImputer, NAOMISequenceImputer or \
            AutoregressiveGRUImputer
        The fitted estimator. Its ``net_.history`` is empty (the training log is not saved);
        ``n_epochs_`` says how many epochs it was trained for.

    Raises
    ------
    ValueError
        If the file is not a safetensors file (truncated or corrupted), was not written by
        :func:`save_weights`, was altered (its tensors no longer match their checksum), has
        a newer format version, names a class that is not one of skimpute's neural imputers,
        or holds weights that do not fit the network the saved parameters build.
    ImportError
        If the ``safetensors`` package is not installed.

    Warns
    -----
    UserWarning
        If the file was written by another version of skimpute (the weights load if the
        network is the same).

    See Also
    --------
    save_weights : Write the file.
    """
    safetensors = _safetensors()
    from skimpute import __version__

    tensors, record = _read(path, safetensors)
    name = record.get("class")
    cls = WEIGHT_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{path} names the class {name!r}, which load_weights refuses to build: it builds "
            f"only skimpute's neural imputers ({', '.join(WEIGHT_CLASSES)})."
        )
    if record.get("skimpute_version") != __version__:
        warnings.warn(
            f"{path} was written by skimpute {record.get('skimpute_version')} and is loaded "
            f"by skimpute {__version__}; the results may differ between versions.",
            UserWarning,
            stacklevel=2,
        )
    try:
        params = {k: _decode(v, tensors) for k, v in record["params"].items()}
        attributes = {k: _decode(v, tensors) for k, v in record["attributes"].items()}
        params["device"] = str(device)
        estimator = cls(**params)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"the record saved in {path} does not fit {name}: {err!r}") from None
    estimator._validate_params()
    for key, value in attributes.items():
        setattr(estimator, key, value)
    with torch.random.fork_rng(devices=estimator._devices_for_rng()):
        net = estimator._build_net(*estimator._net_args).initialize()
    if sorted(net._modules) != sorted(record["modules"]):
        raise ValueError(
            f"{path} holds the modules {record['modules']}, but {name} builds {net._modules}."
        )
    for module_name in net._modules:
        prefix = f"net.{module_name}."
        state = {k[len(prefix) :]: t for k, t in tensors.items() if k.startswith(prefix)}
        try:
            getattr(net, module_name + "_").load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(
                f"the weights in {path} do not fit the network that {name} builds from the "
                f"saved parameters: {err}"
            ) from None
    estimator.net_ = net
    return estimator
