r"""scikit-learn estimators over row-chunked Dask data: :class:`GDRegressor` and
:class:`GDClassifier`.

The parameters and fitted attributes are those of :mod:`fastgd.sklearn`'s estimators,
plus ``mode`` (``"full_batch"``, ``"sequential"``, ``"local_sgd"``; None picks
``"full_batch"`` for ``batch_size=None``, the default here, else ``"sequential"``),
``local_steps``, ``checkpoint``/``checkpoint_every`` and ``progress``
(:func:`fastgd.dask.fit` documents them). ``fit``/``partial_fit``/``score`` take dask
arrays or dataframes chunked by rows (X and y with the same row chunks); ``predict``,
``decision_function`` and ``predict_proba`` return dask arrays, computed block by block
where X's blocks live (X is never gathered). ``early_stopping=True`` holds out
``validation_fraction`` of the rows of every block (a seeded selection, the same for the
same ``random_state`` and chunks; :func:`fastgd.dask.fit` gives the rule) and stops on
their loss. The cluster is the current ``distributed`` client, if any; otherwise Dask's
current scheduler computes the blocks and the fit runs in this process. ``partial_fit``
runs one epoch over the blocks from the current coefficients with a new optimizer state
(:mod:`fastgd.sklearn`'s in-memory estimators keep the optimizer's state between calls).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastgd.dask._data import _is_dask
from fastgd.dask._fit import fit as _dask_fit
from fastgd.models.sparse import is_sparse
from fastgd.sklearn import GDClassifier as _SkClassifier
from fastgd.sklearn import GDRegressor as _SkRegressor

__all__ = ["GDRegressor", "GDClassifier"]

_REG_LOSSES = {"squared_error": "half_squared_error", "huber": "huber",
               "epsilon_insensitive": "epsilon_insensitive"}


def _array(name: str, a: Any) -> Any:
    """A dask array from a dask array, dataframe or series (its row lengths computed), or
    a NumPy array (one chunk)."""
    import dask.array as da
    if hasattr(a, "to_dask_array"):
        return a.to_dask_array(lengths=True)
    if _is_dask(a):
        return a
    if isinstance(a, np.ndarray):
        return da.from_array(a, chunks=-1 if a.ndim == 1 else (-1, -1))
    raise TypeError(f"{name} must be a dask array or dataframe, got {type(a).__name__}")


def _decision_block(X: np.ndarray, coef_t: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    if is_sparse(X):  # a scipy.sparse chunk: its own product, never densified
        z = np.asarray(X.astype(coef_t.dtype, copy=False) @ coef_t) + intercept
        return z[:, 0] if z.shape[1] == 1 else z
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    z = X.astype(coef_t.dtype, copy=False) @ coef_t + intercept
    return z[:, 0] if z.shape[1] == 1 else z


def _label_block(X: np.ndarray, coef_t: np.ndarray, intercept: np.ndarray,
                 classes: np.ndarray) -> np.ndarray:
    z = _decision_block(X, coef_t, intercept)
    return classes[(z > 0).astype(np.intp) if z.ndim == 1 else np.argmax(z, axis=1)]


def _proba_block(X: np.ndarray, coef_t: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    z = _decision_block(X, coef_t, intercept)
    if z.ndim == 1:
        p1 = np.empty_like(z)
        pos = z >= 0
        p1[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
        ez = np.exp(z[~pos])
        p1[~pos] = ez / (1.0 + ez)
        return np.column_stack([1.0 - p1, p1])
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class _DaskMixin:
    """The Dask side shared by both estimators."""

    def _fit_kwargs(self, partial: bool) -> dict:
        s: Any = self
        callbacks: tuple = ()
        if s.verbose:
            def _report(epoch, history, _model):
                print(f"-- Epoch {epoch + 1}: loss {history.loss[-1]:.6g}, "
                      f"lr {history.lr[-1]:.6g}")
            callbacks = (_report,)
        return dict(callbacks=callbacks, optimizer=s.optimizer, lr=s.lr, mode=s.mode,
                    batch_size=s.batch_size,
                    epochs=1 if partial else s.max_iter, shuffle=bool(s.shuffle),
                    random_state=s._seed(),
                    schedule=None if s.schedule == "constant" else s.schedule,
                    tol=None if partial else s.tol, n_iter_no_change=s.n_iter_no_change,
                    early_stopping=bool(s.early_stopping),
                    validation_fraction=s.validation_fraction,
                    local_steps=s.local_steps, optimizer_kwargs=s.optimizer_kwargs,
                    checkpoint=s.checkpoint, checkpoint_every=s.checkpoint_every,
                    progress=bool(s.progress))

    def _count(self, histories: list, *, reset_t: bool) -> None:
        """``n_iter_`` (the most epochs of the runs) and ``t_`` (1 + the steps since
        ``fit``, accumulated over ``partial_fit`` calls). Each call here is a run of
        :func:`fastgd.dask.fit`: ``partial_fit`` continues the coefficients, not the
        optimizer's state (unlike :mod:`fastgd.sklearn`'s in-memory estimators)."""
        s: Any = self
        s.n_iter_ = max(len(h) for h in histories)
        s.t_ = float((1.0 if reset_t else s.t_) + max(h.n_steps for h in histories))

    def _features(self, X: Any, first: bool) -> Any:
        Xa = _array("X", X)
        if Xa.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {Xa.shape}")
        d = Xa.shape[1]
        if first:
            self.n_features_in_ = d
        elif d != self.n_features_in_:
            raise ValueError(f"X has {d} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        return Xa

    def _lazy(self, X: Any, fn: Any, *args: Any, ncols: int | None, dtype: Any) -> Any:
        """``fn`` over X's row blocks: a dask array, X never gathered."""
        from sklearn.utils.validation import check_is_fitted
        check_is_fitted(self)
        Xa = self._features(X, first=False)
        if len(Xa.chunks[1]) > 1:
            Xa = Xa.rechunk({1: -1})
        if ncols is None:
            return Xa.map_blocks(fn, *args, drop_axis=1, dtype=dtype)
        return Xa.map_blocks(fn, *args, chunks=(Xa.chunks[0], (ncols,)), dtype=dtype)


def _run_fit(est: Any, loss: str, X: Any, y: Any, sample_weight: Any, partial: bool,
             target: str, classes: Any, coef: Any, icpt: Any, dtype: Any,
             k: int | None = None, seed: Any = None) -> tuple:
    model = est._model(loss, np.empty((0, 0), dtype=dtype), coef, icpt)
    if loss == "softmax_cross_entropy" and coef is None and k is not None:
        d = est.n_features_in_
        model.coef_ = np.zeros((d, k), dtype=dtype)
        model.intercept_ = np.zeros(k, dtype=dtype) if est.fit_intercept else None
    kwargs = est._fit_kwargs(partial)
    if seed is not None:
        kwargs["random_state"] = seed
    h = _dask_fit(model, X, y, sample_weight=sample_weight, _target_kind=target,
                  _classes=classes, **kwargs)
    return model, h


def _dtype(X: Any) -> Any:
    return np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64


class GDRegressor(_DaskMixin, _SkRegressor):
    """:class:`fastgd.sklearn.GDRegressor` on Dask data (see :mod:`fastgd.dask`).

    Example::

        import dask.array as da
        from fastgd.dask import GDRegressor
        X = da.random.default_rng(0).standard_normal((100_000, 8), chunks=(25_000, 8))
        y = X @ np.arange(8.0) + 1
        reg = GDRegressor(optimizer="adam", lr=0.1, max_iter=200, tol=None).fit(X, y)
        reg.predict(X)          # a dask array
    """

    def __init__(self, loss="squared_error", *, optimizer="sgd", lr=0.01, batch_size=None,
                 max_iter=1000, tol=1e-3, n_iter_no_change=5, penalty="l2", alpha=1e-4,
                 l1_ratio=0.15, epsilon=0.1, fit_intercept=True, shuffle=True,
                 random_state=None, early_stopping=False, validation_fraction=0.1,
                 schedule="constant", optimizer_kwargs=None, warm_start=False, verbose=0,
                 mode=None, local_steps=10, checkpoint=None, checkpoint_every=1,
                 progress=False):
        super().__init__(
            loss, optimizer=optimizer, lr=lr, batch_size=batch_size, max_iter=max_iter,
            tol=tol, n_iter_no_change=n_iter_no_change, penalty=penalty, alpha=alpha,
            l1_ratio=l1_ratio, epsilon=epsilon, fit_intercept=fit_intercept,
            shuffle=shuffle, random_state=random_state, early_stopping=early_stopping,
            validation_fraction=validation_fraction, schedule=schedule,
            optimizer_kwargs=optimizer_kwargs, warm_start=warm_start, verbose=verbose)
        self.mode = mode
        self.local_steps = local_steps
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.progress = progress

    def _fit(self, X, y, sample_weight, *, partial):
        self._validate_params()
        first = not (partial and hasattr(self, "coef_"))
        self._features(X, first)
        warm = hasattr(self, "coef_") and (partial or self.warm_start)
        dtype = _dtype(X)
        model, h = _run_fit(self, _REG_LOSSES[self.loss], X, y, sample_weight, partial,
                            "regression", None, self.coef_ if warm else None,
                            self.intercept_ if warm else None, dtype)
        self.coef_ = model.coef_
        self.intercept_ = (model.intercept_ if self.fit_intercept
                           else np.zeros(1, dtype=dtype))
        self.history_ = h
        self._count([h], reset_t=not (partial and hasattr(self, "t_")))
        if not partial:
            self._warn_convergence([h], self.tol)
        return self

    def predict(self, X):
        """``X @ coef_ + intercept_``, a dask array with X's row chunks."""
        return self._lazy(X, _decision_block, self.coef_[:, None], self.intercept_,
                          ncols=None, dtype=self.coef_.dtype)

    def score(self, X, y, sample_weight=None) -> float:
        """R² of ``predict(X)`` against y (weighted), computed on the cluster."""
        import dask
        yp = self.predict(X)
        ya = _array("y", y).astype(np.float64)
        w = (None if sample_weight is None
             else _array("sample_weight", sample_weight).astype(np.float64))
        ws = ya.shape[0] if w is None else w.sum()
        mean, wsum = dask.compute((ya if w is None else ya * w).sum(), ws)
        mean = float(mean) / float(wsum)
        res, tot = ((ya - yp) ** 2, (ya - mean) ** 2)
        if w is not None:
            res, tot = res * w, tot * w
        ss_res, ss_tot = dask.compute(res.sum(), tot.sum())
        if ss_tot == 0:
            return 1.0 if ss_res == 0 else 0.0
        return float(1 - ss_res / ss_tot)


class GDClassifier(_DaskMixin, _SkClassifier):
    """:class:`fastgd.sklearn.GDClassifier` on Dask data (see :mod:`fastgd.dask`).

    Example::

        import dask.array as da
        from fastgd.dask import GDClassifier
        X = da.random.default_rng(0).standard_normal((100_000, 4), chunks=(25_000, 4))
        labels = (X[:, 0] > 0).astype(int)
        clf = GDClassifier(optimizer="adam", lr=0.1, max_iter=100, tol=None).fit(X, labels)
        clf.predict(X), clf.predict_proba(X)      # dask arrays
    """

    def __init__(self, loss="log_loss", *, optimizer="sgd", lr=0.01, batch_size=None,
                 max_iter=1000, tol=1e-3, n_iter_no_change=5, penalty="l2", alpha=1e-4,
                 l1_ratio=0.15, epsilon=0.1, fit_intercept=True, shuffle=True,
                 random_state=None, early_stopping=False, validation_fraction=0.1,
                 schedule="constant", optimizer_kwargs=None, warm_start=False, verbose=0,
                 mode=None, local_steps=10, checkpoint=None, checkpoint_every=1,
                 progress=False):
        super().__init__(
            loss, optimizer=optimizer, lr=lr, batch_size=batch_size, max_iter=max_iter,
            tol=tol, n_iter_no_change=n_iter_no_change, penalty=penalty, alpha=alpha,
            l1_ratio=l1_ratio, epsilon=epsilon, fit_intercept=fit_intercept,
            shuffle=shuffle, random_state=random_state, early_stopping=early_stopping,
            validation_fraction=validation_fraction, schedule=schedule,
            optimizer_kwargs=optimizer_kwargs, warm_start=warm_start, verbose=verbose)
        self.mode = mode
        self.local_steps = local_steps
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.progress = progress

    def _fit(self, X, y, sample_weight, *, partial, classes=None):
        self._validate_params()
        first = not (partial and hasattr(self, "coef_"))
        self._features(X, first)
        warm_ok = True
        if partial and first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self.classes_ = np.unique(np.asarray(classes))
        elif not partial:
            ya = _array("y", y)
            found = np.unique(np.asarray(ya.map_blocks(np.unique, dtype=ya.dtype).compute()))
            if len(found) < 2:
                raise ValueError(f"The number of classes has to be greater than one; got "
                                 f"{len(found)} class")
            warm_ok = not (self.warm_start and hasattr(self, "classes_")
                           and not np.array_equal(found, self.classes_))
            self.classes_ = found
        k = len(self.classes_)
        warm = (hasattr(self, "coef_") and (partial or (self.warm_start and warm_ok))
                and self.coef_.shape[0] == (1 if k == 2 else k))
        dtype = _dtype(X)
        d = self.n_features_in_
        seed = self._seed()
        if k == 2 or self.loss == "log_loss":
            if k == 2:
                loss, target = self.loss, "ovr:1"
                coef, icpt = (self.coef_[0], self.intercept_) if warm else (None, None)
            else:
                loss, target = "softmax_cross_entropy", "multinomial"
                coef, icpt = (self.coef_.T, self.intercept_) if warm else (None, None)
            model, h = _run_fit(self, loss, X, y, sample_weight, partial, target,
                                self.classes_, coef, icpt, dtype, k=None if k == 2 else k,
                                seed=seed)
            coef_ = (model.coef_.reshape(1, d) if k == 2
                     else np.ascontiguousarray(model.coef_.T))
            icpt_ = model.intercept_ if self.fit_intercept else np.zeros(
                1 if k == 2 else k, dtype=dtype)
            hists = [h]
            self.history_ = h
        else:  # hinge, one-vs-rest
            seeds = [None] * k if seed is None else np.random.SeedSequence(seed).spawn(k)
            coef_ = np.zeros((k, d), dtype=dtype)
            icpt_ = np.zeros(k, dtype=dtype)
            hists = []
            for c in range(k):
                s = None if seeds[c] is None else int(seeds[c].generate_state(1)[0])
                model, h = _run_fit(self, "hinge", X, y, sample_weight, partial, f"ovr:{c}",
                                    self.classes_, self.coef_[c] if warm else None,
                                    self.intercept_[c:c + 1] if warm else None, dtype,
                                    seed=s)
                hists.append(h)
                coef_[c] = model.coef_
                if self.fit_intercept:
                    icpt_[c] = model.intercept_[0]
            self.history_ = hists
        self.coef_ = coef_
        self.intercept_ = np.ascontiguousarray(icpt_)
        self._count(hists, reset_t=not (partial and hasattr(self, "t_")))
        if not partial:
            self._warn_convergence(hists, self.tol)
        return self

    def decision_function(self, X):
        """``X @ coef_.T + intercept_`` as a dask array: ``(n,)`` for two classes, else
        ``(n, n_classes)``."""
        ncols = None if self.coef_.shape[0] == 1 else self.coef_.shape[0]
        return self._lazy(X, _decision_block, np.ascontiguousarray(self.coef_.T),
                          self.intercept_, ncols=ncols, dtype=self.coef_.dtype)

    def predict(self, X):
        """The predicted labels, a dask array with X's row chunks."""
        return self._lazy(X, _label_block, np.ascontiguousarray(self.coef_.T),
                          self.intercept_, self.classes_, ncols=None,
                          dtype=self.classes_.dtype)

    def predict_proba(self, X):
        """Class probabilities ``(n, n_classes)`` as a dask array (``log_loss`` only)."""
        self._has_proba()
        return self._lazy(X, _proba_block, np.ascontiguousarray(self.coef_.T),
                          self.intercept_, ncols=len(self.classes_), dtype=self.coef_.dtype)

    def predict_log_proba(self, X):
        """``log(predict_proba(X))`` as a dask array."""
        import dask.array as da
        return da.log(self.predict_proba(X))

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of ``predict(X)`` against y (weighted), computed on the cluster."""
        import dask
        hit = (self.predict(X) == _array("y", y)).astype(np.float64)
        if sample_weight is None:
            return float(hit.mean().compute())
        w = _array("sample_weight", sample_weight).astype(np.float64)
        a, b = dask.compute((hit * w).sum(), w.sum())
        return float(a / b)
