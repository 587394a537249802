# Type stub of the compiled model kernels (src/models/_models.pyx).
from typing import Any

import numpy as np

NAME: str
OPENMP: bool
CHUNK_ROWS: int
MAX_CHUNKS: int
PARALLEL_MIN: int
TABLE_WIDTH: int
MAX_CALLS: int

def isas() -> dict[str, bool]: ...
def n_chunks(n: int, m: int) -> int: ...
def loss_grad(kind: int, X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: Any,
              sample_weight: Any, rows: Any, a1: float, a2: float, eps: float,
              grad_coef: Any, grad_intercept: Any, hess_coef: Any,
              hess_intercept: Any) -> tuple[int, int, float]: ...
def csr_loss_grad(kind: int, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                  n_cols: int, y: np.ndarray, coef: np.ndarray, intercept: Any,
                  sample_weight: Any, rows: Any, a1: float, a2: float, eps: float,
                  grad_coef: Any, grad_intercept: Any, hess_coef: Any,
                  hess_intercept: Any) -> tuple[int, int, float]: ...
def csr_decision(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n_cols: int,
                 coef: np.ndarray, intercept: Any, rows: Any,
                 out: np.ndarray) -> tuple[int, int]: ...
def norm_part(x: np.ndarray, mode: int, p: float) -> float: ...
def scale(x: np.ndarray, c: float) -> None: ...
def clamp(x: np.ndarray, lo: float, hi: float) -> None: ...
def fused_batches(kind: int, X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: Any,
                  sample_weight: Any, order: np.ndarray, first: int, n_batches: int, bs: int,
                  a1: float, a2: float, eps: float, grad_coef: np.ndarray,
                  grad_intercept: Any, backups: list[Any], invocations: list[Any],
                  scalars: np.ndarray, flags: np.ndarray, clip_norm: float, clip_value: float,
                  last_grads: Any, last_batch: int, hessian: Any, hess_rows: np.ndarray,
                  formulas: Any, total0: float,
                  weights0: float) -> tuple[int, float, float, int, int, float]: ...
def sparse_sgd_epoch(data: Any, indices: Any, indptr: Any, y: Any, sw: Any, order: Any,
                     batch: int, v: Any, b: Any, q: Any, st: Any, prm: Any, iprm: Any,
                     work: Any) -> None: ...
def sparse_adam_epoch(data: Any, indices: Any, indptr: Any, y: Any, sw: Any, order: Any,
                      batch: int, v: Any, b: Any, state: Any, st: Any, prm: Any,
                      iprm: Any, work: Any, touched: Any) -> None: ...
def sparse_softmax_epoch(data: Any, indices: Any, indptr: Any, y: Any, sw: Any, order: Any,
                         batch: int, v: Any, b: Any, st: Any, prm: Any, iprm: Any,
                         work: Any) -> None: ...
def sparse_momentum_epoch(data: Any, indices: Any, indptr: Any, y: Any, sw: Any, order: Any,
                          batch: int, state: Any, b: Any, bm: Any, touched: Any,
                          pw: Any, st: Any, prm: Any, iprm: Any, work: Any) -> None: ...
