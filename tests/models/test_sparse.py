"""fastgd.models.sparse: what as_csr accepts, what it shares with the caller, what it refuses."""

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")

from fastgd.models.sparse import CSR, as_csr, is_sparse  # noqa: E402


def _matrix(fmt="csr", dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    dense = rng.standard_normal((7, 11)) * (rng.random((7, 11)) < 0.3)
    dense[3] = 0.0                                    # an empty row
    return dense.astype(dtype), sp.csr_matrix(dense.astype(dtype)).asformat(fmt)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok", "bsr"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_format_gives_the_same_rows(fmt, dtype):
    dense, X = _matrix(fmt, dtype)
    csr = as_csr(X)
    assert isinstance(csr, CSR) and csr.shape == (7, 11) and csr.dtype == dtype
    back = sp.csr_matrix((csr.data, csr.indices, csr.indptr), shape=csr.shape).toarray()
    np.testing.assert_array_equal(back, dense)


def test_csr_input_is_shared_not_copied_and_never_written():
    _, X = _matrix()
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    csr = as_csr(X)
    assert csr.data is X.data and csr.indices is X.indices and csr.indptr is X.indptr
    for a, b in zip(before, (X.data, X.indices, X.indptr)):
        np.testing.assert_array_equal(a, b)


def test_sparse_array_and_int64_indices_and_duplicates_kept():
    X = sp.csr_array((np.array([1.0, 2.0, 3.0]), np.array([4, 0, 4], dtype=np.int64),
                      np.array([0, 3, 3], dtype=np.int64)), shape=(2, 5))
    csr = as_csr(X)
    assert csr.indices.dtype == np.int64 and csr.nnz == 3       # the duplicate is not summed
    assert not X.has_canonical_format or X.nnz == 3


def test_mixed_index_widths_become_int64_and_dtype_conversion():
    X = sp.csr_matrix((2, 2), dtype=np.int32)
    X.data, X.indices = np.array([1, 2], dtype=np.int32), np.array([0, 1], dtype=np.int32)
    X.indptr = np.array([0, 1, 2], dtype=np.int64)     # scipy's constructor would unify them
    csr = as_csr(X)
    assert csr.indices.dtype == csr.indptr.dtype == np.int64
    assert csr.dtype == np.float64
    assert as_csr(X, dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_value_named_with_row_and_column(value):
    X = sp.csr_matrix(np.array([[0.0, 1.0], [value, 0.0]]))
    with pytest.raises(ValueError, match=r"non-finite value .* row 1, column 0"):
        as_csr(X)


def test_out_of_range_and_negative_indices():
    data, indptr = np.ones(2), np.array([0, 1, 2])
    X = sp.csr_matrix((2, 4))
    X.data, X.indices, X.indptr = data, np.array([0, 4], dtype=np.int32), indptr
    with pytest.raises(ValueError, match=r"column index 4 in row 1, outside \[0, 4\)"):
        as_csr(X)
    X.indices = np.array([-1, 2], dtype=np.int32)
    with pytest.raises(ValueError, match=r"column index -1 in row 0"):
        as_csr(X)


def test_malformed_indptr():
    X = sp.csr_matrix((2, 3))
    X.data, X.indices = np.ones(2), np.array([0, 1], dtype=np.int32)
    X.indptr = np.array([0, 2, 1], dtype=np.int32)
    with pytest.raises(ValueError, match="indptr decreases at row 1"):
        as_csr(X)
    X.indptr = np.array([1, 1, 2], dtype=np.int32)
    with pytest.raises(ValueError, match="must start at 0"):
        as_csr(X)


def test_refusals():
    with pytest.raises(TypeError, match="scipy.sparse"):
        as_csr(np.ones((2, 2)))
    with pytest.raises(ValueError, match="at least one row"):
        as_csr(sp.csr_matrix((0, 3)))
    with pytest.raises(TypeError, match="complex"):
        as_csr(sp.csr_matrix(np.ones((2, 2), dtype=np.complex128)))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        as_csr(sp.csr_matrix(np.ones((2, 2))), dtype=np.int64)
    assert is_sparse(sp.eye(2, format="coo")) and not is_sparse(np.eye(2))
