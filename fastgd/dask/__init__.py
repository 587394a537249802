r"""Data-parallel training on Dask: :func:`fit` and the scikit-learn estimators
:class:`GDRegressor` and :class:`GDClassifier` over row-chunked ``dask.array`` /
``dask.dataframe`` data, on a ``dask.distributed`` cluster (a LocalCluster, or any Dask
deployment through ``Client("tcp://scheduler:8786")``) or on Dask's local schedulers.

Needs the ``dask`` extra (``pip install fastgd[dask]``); ``import fastgd`` never imports
Dask.

.. code-block:: python

    import dask.array as da
    from distributed import Client, LocalCluster
    import fastgd, fastgd.dask

    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    X = da.random.default_rng(0).standard_normal((2_000_000, 32), chunks=(125_000, 32))
    y = (X[:, 0] > 0).astype("f8")
    model = fastgd.LogisticRegression()
    h = fastgd.dask.fit(model, X.persist(), y.persist(), optimizer="adam", lr=0.1,
                        epochs=100)                   # full batch: one round trip per epoch

**What each mode equals.**

- ``full_batch`` (``batch_size=None``): every epoch each block computes its weighted mean
  loss and gradient (penalty included) with :func:`fastgd.models.loss_grad` where it
  lives; the driver folds them in block order as :math:`\sum_b (W_b/W) g_b` and steps.
  This is :func:`fastgd.fit` with ``batch_size=None`` up to rounding (float64: within
  1e-10 relative; bit for bit with one block), and bit for bit the same as this function
  on NumPy arrays with ``block_rows`` equal to the chunk size (the single-process fit told
  the same partition) -- whatever the scheduler, the number of workers, or a worker
  lost and recomputed on the way.
- ``sequential``: one chain of mini-batch steps per epoch over the blocks in a seeded
  order, each block's rows in a seeded order, the optimizer's state carried along. It
  equals the single-process run of the same chain (NumPy arrays, ``block_rows``); with
  ``shuffle=False`` and a ``batch_size`` that divides every chunk it equals
  :func:`fastgd.fit` with ``shuffle=False`` bit for bit. No parallel speed-up: it is for
  data that does not fit one machine.
- ``local_sgd``: per round, every block runs ``local_steps`` mini-batch steps from the
  shared parameters with a fresh optimizer state, and the driver averages the blocks'
  parameters weighted by their sample weight (federated averaging). Deterministic for a
  ``random_state`` and a chunking, converges near the optimum, but equals no
  single-process fit.
"""

from __future__ import annotations

try:
    import dask.array  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised without the extra
    raise ImportError("fastgd.dask needs Dask: pip install fastgd[dask]") from e

from fastgd.dask._fit import MODES, fit
from fastgd.dask.estimators import GDClassifier, GDRegressor

__all__ = ["fit", "MODES", "GDRegressor", "GDClassifier"]
