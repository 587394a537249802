"""The model files of the command line: a fitted linear model with its feature names,
classes and standardisation in an ``.npz`` that loads without pickle (``fastgd fit
--out``, ``fastgd predict``), written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastgd.io.checkpoint import _version, _write_atomically
from fastgd.io.data import DataError, _load_npy
from fastgd.models.linear import LinearModel

__all__ = ["MODEL_FORMAT", "MODELS", "LOSSES", "save_model", "load_model"]

#: The ``format`` entry of a saved model (:func:`save_model`).
MODEL_FORMAT = "fastgd-linear-model-1"
#: The kinds of model, and the losses each takes (the first is its default).
MODELS = ("linear", "logistic", "softmax")
LOSSES = {"linear": ("squared_error", "half_squared_error", "huber", "epsilon_insensitive"),
          "logistic": ("log_loss", "hinge"),
          "softmax": ("softmax_cross_entropy",)}


def _model_for(kind: str, loss: str | None, penalty: str | None, alpha: float,
               l1_ratio: float) -> LinearModel:
    loss = loss or LOSSES[kind][0]
    if loss not in LOSSES[kind]:
        raise DataError(f"--loss {loss!r} does not go with --model {kind} (choose "
                        f"{', '.join(LOSSES[kind])})")
    try:
        return LinearModel(loss, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio)
    except (TypeError, ValueError) as exc:
        raise DataError(str(exc)) from None


def save_model(path: str, model: LinearModel, *, kind: str, classes: np.ndarray,
               feature_names: Sequence[str], target: str | None,
               target_index: int | None = None, mean: np.ndarray | None = None,
               scale: np.ndarray | None = None) -> None:
    """Write a fitted model, atomically (a temporary file beside ``path``, renamed over
    it), as ``.npz`` readable with ``allow_pickle=False``: arrays
    ``coef``, ``intercept``, ``classes`` (the labels of classes 0, 1, ... for
    classification, empty for regression), ``feature_names``, ``mean`` and ``scale``
    (standardisation applied before the model, empty without), and 0-d entries
    ``format`` (:data:`MODEL_FORMAT`), ``kind`` (linear, logistic, softmax), ``loss``,
    ``penalty`` (``"none"`` for None), ``alpha``, ``l1_ratio``, ``target`` (its name),
    ``target_index`` (its column among the training file's columns, -1 for an ``.npz``)
    and ``fastgd_version``."""
    if model.coef_ is None or model.intercept_ is None:
        raise ValueError("save_model: the model is not fitted (coef_ is None)")
    empty = np.zeros(0)
    if not path.endswith(".npz"):  # the name np.savez would give it
        path += ".npz"
    _write_atomically(path, dict(
        format=np.array(MODEL_FORMAT), kind=np.array(kind),
        loss=np.array(model.loss), penalty=np.array(model.penalty or "none"),
        alpha=np.array(float(model.alpha)), l1_ratio=np.array(float(model.l1_ratio)),
        coef=model.coef_, intercept=model.intercept_, classes=np.asarray(classes),
        feature_names=np.array(list(feature_names), dtype=str),
        target=np.array(target or ""),
        target_index=np.array(-1 if target_index is None else int(target_index)),
        mean=empty if mean is None else mean, scale=empty if scale is None else scale,
        fastgd_version=np.array(_version())))


def load_model(path: str) -> tuple[LinearModel, dict[str, Any]]:
    """A model written by :func:`save_model`: the :class:`LinearModel` (fitted)
    and a dict of ``kind``, ``classes``, ``feature_names``, ``target``, ``target_index``,
    ``mean`` and ``scale`` (None when not standardised). :class:`DataError` if the file is
    not one."""
    required = ("format", "kind", "loss", "penalty", "alpha", "l1_ratio", "coef",
                "intercept", "classes", "feature_names", "target", "mean", "scale")
    if not path.lower().endswith(".npz"):
        raise DataError(f"{path}: a model file is an .npz written by 'fastgd fit --out'")
    with _load_npy(path, True) as archive:
        missing = [k for k in required if k not in archive.files]
        if missing:
            raise DataError(f"{path}: not a fastgd model (no {', '.join(missing)})")
        try:
            d = {k: archive[k] for k in required}
            target_index = (int(archive["target_index"]) if "target_index" in archive.files
                            else -1)
        except ValueError as exc:
            raise DataError(f"{path}: {str(exc).splitlines()[0]}") from None
    if str(d["format"]) != MODEL_FORMAT:
        raise DataError(f"{path}: model format {str(d['format'])!r}, this fastgd reads "
                       f"{MODEL_FORMAT!r}")
    kind = str(d["kind"])
    if kind not in MODELS:
        raise DataError(f"{path}: unknown model kind {kind!r}")
    penalty = str(d["penalty"])
    model = _model_for(kind, str(d["loss"]), None if penalty == "none" else penalty,
                       float(d["alpha"]), float(d["l1_ratio"]))
    coef, intercept = d["coef"], d["intercept"]
    names = [str(s) for s in d["feature_names"]]
    shape_ok = (coef.dtype.kind == "f" and coef.ndim == (2 if kind == "softmax" else 1)
                and coef.shape[0] == len(names) and intercept.dtype == coef.dtype
                and intercept.shape == ((coef.shape[1],) if kind == "softmax" else (1,)))
    if not shape_ok:
        raise DataError(f"{path}: coef {coef.shape}, intercept {intercept.shape} and "
                       f"{len(names)} feature names do not fit a {kind} model")
    model.coef_ = np.ascontiguousarray(coef)
    model.intercept_ = np.ascontiguousarray(intercept)
    if kind == "softmax":
        model.n_classes_ = coef.shape[1]
    expected = 0 if kind == "linear" else coef.shape[1] if kind == "softmax" else 2
    mean, scale = d["mean"], d["scale"]
    if d["classes"].ndim != 1 or d["classes"].size != expected or mean.shape != scale.shape \
            or mean.size not in (0, len(names)):
        raise DataError(f"{path}: its classes ({d['classes'].size}) or standardisation "
                       f"({mean.size} features) do not fit a {kind} model of "
                       f"{len(names)} features")
    info = dict(kind=kind, classes=d["classes"], feature_names=names,
                target=str(d["target"]) or None, target_index=target_index,
                mean=mean if mean.size else None, scale=scale if scale.size else None)
    return model, info


# ================================================================ fit and predict
