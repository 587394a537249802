"""fastgd.io.chunks: svmlight and scipy.sparse .npz read as scikit-learn / scipy read them,
chunked readers that yield chunks of the asked size and hold one at a time, and errors
naming the file and line."""

import os

import numpy as np
import pytest

sparse = pytest.importorskip("scipy.sparse")

from fastgd.io.chunks import (  # noqa: E402
    is_sparse_npz,
    iter_chunks,
    read_sparse_npz,
    read_svmlight,
    scan_svmlight,
)
from fastgd.io.data import DataError  # noqa: E402


def _random_csr(n=53, d=17, density=0.2, seed=0, first_column=False):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d)) * (rng.random((n, d)) < density)
    A[4] = 0.0                          # an empty row
    A[:, 0] = 0.0
    if first_column:                    # index 0 used: "auto" sees a zero-based file
        A[2, 0] = 1.5
    A[:, -1] = 0.0
    A[7, -1] = 2.0                      # the last column used
    return sparse.csr_matrix(A), rng.normal(size=n)


def _write_svmlight(path, M, y, one_based=True, comments=True):
    lines = ["# a comment line"] if comments else []
    for i in range(M.shape[0]):
        row = M.getrow(i)
        pairs = " ".join(f"{j + one_based}:{float(v)!r}"
                         for j, v in zip(row.indices, row.data))
        tail = " # trailing comment" if comments and i % 7 == 0 else ""
        qid = "qid:3 " if i % 5 == 0 else ""
        lines.append(f"{float(y[i])!r} {qid}{pairs}{tail}")
        if comments and i % 11 == 0:
            lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("one_based", [True, False])
def test_read_svmlight_equals_sklearns_loader(tmp_path, one_based):
    datasets = pytest.importorskip("sklearn.datasets")
    M, y = _random_csr(first_column=not one_based)
    path = _write_svmlight(tmp_path / "d.svm", M, y, one_based=one_based)
    X, yy = read_svmlight(path)
    Xs, ys = datasets.load_svmlight_file(path)
    assert X.shape == Xs.shape == M.shape
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(X, name), getattr(Xs, name), err_msg=name)
    np.testing.assert_array_equal(yy, ys)
    np.testing.assert_array_equal(X.toarray(), M.toarray())
    info = scan_svmlight(path)
    assert (info.n_rows, info.n_features, info.zero_based) == (53, 17, not one_based)
    X40, _ = read_svmlight(path, n_features=40)
    assert X40.shape == (53, 40)
    np.testing.assert_array_equal(X40.toarray()[:, :17], M.toarray())
    assert X40.shape == datasets.load_svmlight_file(path, n_features=40)[0].shape


@pytest.mark.parametrize("chunk", [1, 10, 53, 100])
def test_svmlight_chunks_have_the_asked_size_and_join_to_the_file(tmp_path, chunk):
    M, y = _random_csr()
    path = _write_svmlight(tmp_path / "d.libsvm", M, y)
    parts = list(iter_chunks(path, chunk))
    sizes = [X.shape[0] for X, _ in parts]
    assert sizes == [min(chunk, 53 - a) for a in range(0, 53, chunk)]
    assert all(sparse.issparse(X) and X.format == "csr" and X.shape[1] == 17
               for X, _ in parts)
    np.testing.assert_array_equal(sparse.vstack([X for X, _ in parts]).toarray(),
                                  M.toarray())
    np.testing.assert_array_equal(np.concatenate([v for _, v in parts]), y)


def test_chunked_readers_hold_one_chunk(tmp_path, monkeypatch):
    """The svmlight reader parses lines as it goes: when the first chunk comes, it has
    parsed only the lines of that chunk (besides the first scan)."""
    from fastgd.io import chunks
    M, y = _random_csr(n=200)
    path = _write_svmlight(tmp_path / "d.svm", M, y, comments=False)
    info = scan_svmlight(path)
    seen = []
    real = chunks._parse_block

    def spy(lines, p):
        seen.append([number for number, _ in lines])
        return real(lines, p)
    monkeypatch.setattr(chunks, "_parse_block", spy)
    it = iter_chunks(path, 25, info=info)
    next(it)
    assert seen == [list(range(1, 26))]
    # .npy: the chunks come from a memory map, one block of rows at a time
    a = np.arange(600.0).reshape(100, 6)
    np.save(tmp_path / "a.npy", a)
    loads = []
    real_load = np.load

    def spy(*args, **kw):
        loads.append(kw.get("mmap_mode"))
        return real_load(*args, **kw)
    monkeypatch.setattr(np, "load", spy)
    parts = list(iter_chunks(str(tmp_path / "a.npy"), 30, target="-1"))
    assert loads == ["r"] and [X.shape for X, _ in parts] == [(30, 5)] * 3 + [(10, 5)]
    np.testing.assert_array_equal(np.vstack([X for X, _ in parts]), a[:, :5])
    np.testing.assert_array_equal(np.concatenate([v for _, v in parts]), a[:, 5])


def test_sparse_npz_whole_and_in_chunks_equal_scipys(tmp_path):
    M, y = _random_csr(n=41)
    plain = tmp_path / "m.npz"
    sparse.save_npz(plain, M)
    assert is_sparse_npz(str(plain))
    with_y = tmp_path / "xy.npz"
    sparse.save_npz(with_y, M, compressed=False)
    with np.load(with_y) as f:
        members = dict(f)
    np.savez_compressed(with_y, y=y, **members)
    ref = sparse.load_npz(with_y)
    X, yy = read_sparse_npz(str(with_y))
    np.testing.assert_array_equal(X.toarray(), ref.toarray())
    np.testing.assert_array_equal(yy, y)
    for chunk in (1, 8, 41):
        parts = list(iter_chunks(str(with_y), chunk))
        assert [p[0].shape[0] for p in parts] == [min(chunk, 41 - a) for a in range(0, 41, chunk)]
        np.testing.assert_array_equal(sparse.vstack([p[0] for p in parts]).toarray(),
                                      ref.toarray())
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), y)
    # the target as a column of the matrix
    Xt, yt = read_sparse_npz(str(plain), target="3")
    np.testing.assert_array_equal(yt, M.toarray()[:, 3])
    np.testing.assert_array_equal(Xt.toarray(), np.delete(M.toarray(), 3, axis=1))
    parts = list(iter_chunks(str(plain), 16, target="-14"))
    np.testing.assert_array_equal(sparse.vstack([p[0] for p in parts]).toarray(),
                                  Xt.toarray())
    with pytest.raises(DataError, match="without a target"):
        read_sparse_npz(str(plain))
    with pytest.raises(DataError, match="without a target"):
        list(iter_chunks(str(plain), 10))
    csc = tmp_path / "c.npz"
    sparse.save_npz(csc, M.tocsc())
    with pytest.raises(DataError, match="only as CSR"):
        list(iter_chunks(str(csc), 10, target="0"))


def test_dense_npz_and_csv_chunks(tmp_path):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(23, 3)), rng.normal(size=23)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    parts = list(iter_chunks(str(tmp_path / "d.npz"), 10))
    assert [p[0].shape for p in parts] == [(10, 3), (10, 3), (3, 3)]
    np.testing.assert_array_equal(np.vstack([p[0] for p in parts]), X)
    lines = ["a,label,b,c"] + [f"{r[0]},{'yes' if v > 0 else 'no'},{r[1]},{r[2]}"
                               for r, v in zip(X.tolist(), y)]
    (tmp_path / "d.csv").write_text("\n".join(lines[:5] + [""] + lines[5:]) + "\n")
    parts = list(iter_chunks(str(tmp_path / "d.csv"), 7, target="label"))
    assert [p[0].shape[0] for p in parts] == [7, 7, 7, 2]
    np.testing.assert_array_equal(np.vstack([p[0] for p in parts]), X)
    assert list(np.concatenate([p[1] for p in parts])) == ["yes" if v > 0 else "no"
                                                          for v in y]


@pytest.mark.parametrize("text,line,what", [
    ("1 1:2\n2 3:1 2:4\n", 2, "index 2 after 3"),
    ("1 1:2\nx 1:1\n", 2, "label 'x' is not a number"),
    ("1 1:2\n1 -4:1\n", 2, "negative index -4"),
    ("1 1:2\n\n1 a:1\n", 3, "index 'a' is not an integer"),
    ("1 1:nan\n", 1, "value 'nan' (index 1) is not finite"),
    ("inf 1:2\n", 1, "label 'inf' is not finite"),
    ("1 1:2\n1 3\n", 2, "'3' is not <index>:<value>"),
    ("1 1:2:3\n", 1, "'1:2:3' is not <index>:<value>"),
    ("1 2:1\n1 1:1e\n", 2, "value '1e' (index 1) is not a number"),
])
def test_bad_svmlight_lines_name_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "bad.svm"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        read_svmlight(str(path))
    assert str(err.value).startswith(f"{path}, line {line}: ") and what in str(err.value)


def test_svmlight_range_and_indexing_errors(tmp_path):
    path = tmp_path / "r.svm"
    path.write_text("1 1:1\n0 7:2\n")
    with pytest.raises(DataError, match=r"line 2: index 7 is out of range for 5 features"):
        read_svmlight(str(path), n_features=5)
    path.write_text("1 0:1\n0 2:2\n")
    with pytest.raises(DataError, match="index 0 in a file read as one-based"):
        read_svmlight(str(path), zero_based=False)
    path.write_text("# nothing\n\n")
    with pytest.raises(DataError, match="no samples"):
        read_svmlight(str(path))
    with pytest.raises(DataError, match="no such file"):
        read_svmlight(str(tmp_path / "missing.svm"))
    with pytest.raises(ValueError, match="chunk_rows"):
        list(iter_chunks(str(path), 0))
    with pytest.raises(ValueError, match="zero_based"):
        read_svmlight(str(path), zero_based="yes")


def test_non_finite_values_in_binary_files_name_the_row(tmp_path):
    a = np.ones((20, 3))
    a[13, 1] = np.nan
    np.save(tmp_path / "a.npy", a)
    with pytest.raises(DataError, match="row 13"):
        list(iter_chunks(str(tmp_path / "a.npy"), 5, target="0"))
    M = sparse.csr_matrix(a)
    with np.errstate(invalid="ignore"):
        sparse.save_npz(tmp_path / "m.npz", M)
    with pytest.raises(DataError, match="row 13"):
        read_sparse_npz(str(tmp_path / "m.npz"), target="0")
    with pytest.raises(DataError, match="row 13"):
        list(iter_chunks(str(tmp_path / "m.npz"), 4, target="0"))
    assert not os.path.exists(tmp_path / "x.npz") and not is_sparse_npz(str(tmp_path / "x"))


def test_fast_block_parser_agrees_with_the_line_parser(tmp_path):
    """Valid blocks go through NumPy's conversions (the fast path), with the arrays the
    line-by-line parser gives; a bad line makes the fast path give up."""
    from fastgd.io import chunks
    M, y = _random_csr(n=60)
    path = _write_svmlight(tmp_path / "d.svm", M, y)
    (lines,) = list(chunks._sample_lines(path, 1000))
    fast = chunks._parse_fast(lines)
    slow = [chunks._parse_line(body, path, number) for number, body in lines]
    np.testing.assert_array_equal(fast.labels, [label for label, _, _ in slow])
    np.testing.assert_array_equal(fast.indices, np.concatenate([i for _, i, _ in slow]))
    np.testing.assert_array_equal(fast.values, np.concatenate([v for _, _, v in slow]))
    np.testing.assert_array_equal(np.diff(fast.indptr), [len(i) for _, i, _ in slow])
    assert fast.numbers == [number for number, _ in lines]
    for bad in ("1 3:1 2:4", "1 1:nan", "x 1:1", "1 -1:2", "1 3", "1 1:2:3", "1 a:1"):
        with pytest.raises((ValueError, OverflowError)):
            chunks._parse_fast([*lines[:3], (99, bad)])


def test_read_svmlight_of_several_blocks(tmp_path, monkeypatch):
    """A file longer than a block of the reader is joined back in order."""
    from fastgd.io import chunks
    M, y = _random_csr(n=53)
    path = _write_svmlight(tmp_path / "d.svm", M, y)
    real = chunks._sample_lines
    monkeypatch.setattr(chunks, "_sample_lines", lambda p, rows: real(p, min(rows, 10)))
    X, yy = read_svmlight(path)
    np.testing.assert_array_equal(X.toarray(), M.toarray())
    np.testing.assert_array_equal(yy, y)


def test_svmlight_without_a_scan_when_width_and_indexing_are_given(tmp_path, monkeypatch):
    from fastgd.io import chunks
    M, y = _random_csr(n=40)
    path = _write_svmlight(tmp_path / "d.svm", M, y)

    def no_scan(*args, **kw):
        raise AssertionError("scanned")
    monkeypatch.setattr(chunks, "scan_svmlight", no_scan)
    parts = list(iter_chunks(path, 16, n_features=20, zero_based=False))
    assert [X.shape for X, _ in parts] == [(16, 20), (16, 20), (8, 20)]
    np.testing.assert_array_equal(sparse.vstack([X for X, _ in parts]).toarray()[:, :17],
                                  M.toarray())
    bad = tmp_path / "bad.svm"
    bad.write_text("1 1:1\n1 2:1\n0 0:1 3:1\n")
    chunked = iter_chunks(str(bad), 2, n_features=5, zero_based=False)
    assert next(chunked)[0].shape == (2, 5)      # checked as the lines come
    with pytest.raises(DataError, match="line 3: index 0 in a file read as one-based"):
        next(chunked)
    with pytest.raises(DataError, match="line 3: index 9 is out of range for 5"):
        bad.write_text("1 1:1\n1 2:1\n0 9:1\n")
        list(iter_chunks(str(bad), 2, n_features=5, zero_based=True))
