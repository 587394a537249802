"""The low-bit states' reference: the maps, the quantizer by hand, the fast quantizer's
tables against it, a step by hand, and every backend's fused step against the numpy one,
bit for bit (codes, absmax and parameter), on blocks built to hit the edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from fastgd import backends, reference
from fastgd.reference import lowbit as L

F = np.float32


def test_maps_have_the_published_shape():
    m8, v8 = L.qmap("dynamic_signed_8"), L.qmap("dynamic_unsigned_8")
    assert m8.dtype == v8.dtype == F and m8.size == v8.size == 256
    assert m8[127] == 0 and m8[255] == 1 and np.all(np.diff(m8) > 0)
    assert v8[0] == 0 and v8[255] == 1 and np.all(np.diff(v8) > 0)
    np.testing.assert_allclose(m8[128], 5.5e-7, rtol=1e-6)   # smallest nonzero |code|
    np.testing.assert_allclose(v8[1], 3.25e-7, rtol=1e-6)
    np.testing.assert_allclose(m8[0], -0.99296875, rtol=1e-6)  # no -1: the map is not odd
    m4 = L.qmap("dynamic_signed_4")
    np.testing.assert_allclose(m4, [-0.8875, -0.6625, -0.4375, -0.2125, -0.0775, -0.0325,
                                    -0.0055, 0, 0.0055, 0.0325, 0.0775, 0.2125, 0.4375,
                                    0.6625, 0.8875, 1], rtol=1e-6)
    assert L.qmap("linear_unsigned_4").tolist() == [k / 16 for k in range(1, 17)]
    with pytest.raises(ValueError, match="unknown quantization map 'x'"):
        L.qmap("x")


def test_quantize_by_hand_nearest_ties_up():
    q = L.linear_map(16)
    x = np.array([0.0, 0.03125, 0.09375, 0.0937, 1.0, 0.96875, np.nan, -1.0], F)
    # below the first code: code 0; a midpoint goes up; NaN gives 0 (torchao's compares)
    assert L.quantize(x, q).tolist() == [0, 0, 1, 0, 15, 15, 0, 0]
    m = L.qmap("dynamic_signed_4")
    mid = (m[7] + m[8]) / F(2)  # between 0 and 0.0055
    assert L.quantize(np.array([mid, np.nextafter(mid, F(0)), -0.0, 1e-45], F), m).tolist() \
        == [8, 7, 7, 7]
    assert L.zero_code(m) == 7 and L.zero_code(q) == 0


def _probe_values(table, rng):
    mids = (table[1:] + table[:-1]) / F(2)
    x = np.concatenate([
        table, mids, np.nextafter(mids, F(2)), np.nextafter(mids, F(-2)),
        np.nextafter(table, F(2)), np.nextafter(table, F(-2)),
        rng.uniform(-1, 1, 20000), rng.normal(0, 1e-4, 5000), rng.normal(0, 1e-6, 5000),
        np.array([0.0, -0.0, 1e-45, -1e-45, 1e-39, -1e-39, 1.0, -1.0, np.nan]),
    ]).astype(F)
    return np.clip(x, F(-1), F(1))


@pytest.mark.parametrize("name", L.MAP_NAMES)
def test_fast_quantizer_tables_give_the_reference_code(name, rng):
    table = L.qmap(name)
    lut, threshold = L.lookup_tables(table)
    x = _probe_values(table, rng)
    c = lut[x.view(np.uint32) >> 16].astype(np.int64)
    c += x >= threshold[c + 1]
    np.testing.assert_array_equal(c, L.quantize(x, table))


def test_pack_and_blocks():
    codes = np.array([1, 2, 3, 15, 7], np.uint8)
    packed = L.pack_4bit(codes)
    assert packed.tolist() == [0x12, 0x3F, 0x70]
    assert L.unpack_4bit(packed, 5).tolist() == codes.tolist()
    state = np.zeros(40, F)
    state[16:20] = [0.5, -1.0, 0.25, 0.0]
    table = L.qmap("dynamic_signed_8")
    codes, absmax = L.quantize_blocks(state, table, 16)
    assert absmax.tolist() == [0.0, 1.0, 0.0]  # an all-zero block: absmax 0, the zero code
    assert codes[:16].tolist() == [127] * 16 and codes[32:].tolist() == [127] * 8
    back = L.dequantize_blocks(codes, absmax, table, 16)
    assert back[17] == table[0] and back[19] == 0 and not back[:16].any()
    for bad in (0, 24, -16, 2 ** 17):
        with pytest.raises(ValueError, match="Invalid block_size"):
            L.check_block_size(bad)
    with pytest.raises(TypeError, match="block_size must be an int"):
        L.check_block_size(16.0)


def _states(rule, bits, n, block, rng, zero_first=True):
    names = L.MAP_NAMES[:2] if bits == 8 else L.MAP_NAMES[2:]
    out = []
    for name in names[:2 if rule == "adam" else 1]:
        table = L.qmap(name)
        s = rng.normal(0, 1e-3, n).astype(F)
        if "unsigned" in name:
            s = s * s
        if zero_first:
            s[:block] = 0
        codes, absmax = L.quantize_blocks(s, table, block)
        out.append((L.pack_4bit(codes) if bits == 4 else codes, absmax, table))
    return out


def _hyper(rule, maximize=False):
    if rule == "adam":
        return dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1,
                    bias_correction1=0.19, bias_correction2_sqrt=0.0447,
                    decoupled_weight_decay=True, maximize=maximize)
    return dict(lr=1e-3, beta1=0.9, beta2=0.99, weight_decay=0.1, maximize=maximize)


def test_first_step_by_hand():
    """From zero states: m = (1-b1) g, v = (1-b2) g^2; the parameter takes these float32
    values (fastgd.reference.adam), then each block is requantized with its max."""
    g = np.array([1.0, -2.0, 0.5, 0.0] * 8, F)
    p = np.ones(32, F)
    states = [(np.full(32, 127, np.uint8), np.zeros(2, F), L.qmap("dynamic_signed_8")),
              (np.zeros(32, np.uint8), np.zeros(2, F), L.qmap("dynamic_unsigned_8"))]
    L.lowbit_step("adam", p, g, states, block_size=16, bits=8, lr=0.1, beta1=0.9,
                  beta2=0.999, eps=1e-8, bias_correction1=0.1,
                  bias_correction2_sqrt=np.sqrt(0.001))
    p2, m, v = np.ones(32, F), np.zeros(32, F), np.zeros(32, F)
    reference.adam(p2, g, m, v, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
                   bias_correction1=0.1, bias_correction2_sqrt=np.sqrt(0.001))
    np.testing.assert_array_equal(p, p2)
    assert states[0][1].tolist() == [np.float32(0.2)] * 2 == [np.abs(m).max()] * 2
    # m / absmax is -1, 0.5... : the codes of the map's nearest values
    assert states[0][0][:4].tolist() == L.quantize(m[:4] / m[1] * F(-1), states[0][2]).tolist()
    assert states[1][0][1] == 255 and states[1][0][3] == 0  # v's max is code 1.0, zero 0


@pytest.mark.parametrize("rule,bits", [("adam", 8), ("adam", 4), ("lion", 8), ("lion", 4)])
def test_backends_give_the_numpy_bits(this_backend, rule, bits, rng):
    kernels = backends.active()
    # the largest blocks (over 32768) are requantized one at a time, the rest one block late
    for n, block in ((1, 16), (17, 16), (1000, 64), (4097, 256 if bits == 8 else 128),
                     (2 * 65536 + 33, 65536)):
        states = _states(rule, bits, n, block, rng)
        p = rng.normal(size=n).astype(F)
        g = rng.normal(size=n).astype(F)
        g[::7] = 0.0
        g[1::11] = -0.0
        g[2::13] = 1e-40  # denormal gradients
        g[3::17] = np.nextafter(F(0), F(1))
        for maximize in (False, True):
            want_p, want_s = p.copy(), [(c.copy(), a.copy(), t) for c, a, t in states]
            got_p, got_s = p.copy(), [(c.copy(), a.copy(), t) for c, a, t in states]
            L.lowbit_step(rule, want_p, g, want_s, block_size=block, bits=bits,
                          **_hyper(rule, maximize))
            kernels.lowbit_step(rule, got_p, g, got_s, block_size=block, bits=bits,
                                **_hyper(rule, maximize))
            np.testing.assert_array_equal(got_p.view(np.uint32), want_p.view(np.uint32))
            for (gc, ga, _), (wc, wa, _) in zip(got_s, want_s):
                np.testing.assert_array_equal(gc, wc)
                np.testing.assert_array_equal(ga.view(np.uint32), wa.view(np.uint32))


def test_backends_quantize_exact_codes_midpoints_and_next_floats(this_backend, rng):
    """States whose normalised values are the maps' codes, midpoints and their neighbours:
    with lr = 0 and beta = 1 the update leaves m as it was dequantized, so requantizing
    runs the quantizer on exactly those values (absmax: the block's 1.0 code)."""
    kernels = backends.active()
    for name in L.MAP_NAMES:  # the 8-bit and the 4-bit maps, signed and unsigned
        bits = int(name.rsplit("_", 1)[1])
        table = L.qmap(name)
        x = _probe_values(table, rng)[:4096]
        x = x[~np.isnan(x)]
        n = x.size - x.size % 16
        x = x[:n]
        x[::16] = 1.0  # each block's max is 1: absmax = 1 keeps x as it is
        # the state as codes cannot hold x itself: drive it through g with beta1 = 0
        p = np.zeros(n, F)
        codes = np.full(n, L.zero_code(table), np.uint8)
        states = [(L.pack_4bit(codes) if bits == 4 else codes, np.zeros(n // 16, F), table)]
        want = [(s[0].copy(), s[1].copy(), table) for s in states]
        hyper = dict(lr=0.0, beta1=0.0, beta2=0.0, weight_decay=0.0)
        L.lowbit_step("lion", p.copy(), x, want, block_size=16, bits=bits, **hyper)
        kernels.lowbit_step("lion", p.copy(), x, states, block_size=16, bits=bits, **hyper)
        np.testing.assert_array_equal(states[0][0], want[0][0])
        expect = L.quantize(x, table)
        got = L.unpack_4bit(want[0][0], n) if bits == 4 else want[0][0]
        np.testing.assert_array_equal(got, expect)


@pytest.mark.parametrize("scale", [0.7, 3.3e-5, 1.9e20, 2.0 ** -120, 6.1e-39])
def test_backends_quantize_values_at_scaled_thresholds(this_backend, scale, rng):
    """Blocks whose absmax is not 1: the moments are each threshold and rounding boundary
    of the map times the block's absmax, rounded, and the floats around them, so that
    x = s / absmax falls on both sides of every threshold. The compiled AVX2 and AVX-512
    4-bit quantizers compare s itself with per-block thresholds there (quant_avx2.h,
    quant_avx512.h); every path must give the reference's codes. The last scale is a
    subnormal absmax."""
    kernels = backends.active()
    a = F(scale)
    for name in L.MAP_NAMES:
        bits = int(name.rsplit("_", 1)[1])
        table = L.qmap(name)
        _, threshold = L.lookup_tables(table)
        t = threshold[1:-1].astype(np.float64)
        below = np.nextafter(threshold[1:-1], F(-np.inf)).astype(np.float64)
        centres = np.concatenate([t * float(a), (t + below) / 2 * float(a)]).astype(F)
        up1 = np.nextafter(centres, F(np.inf))
        down1 = np.nextafter(centres, F(-np.inf))
        x = np.concatenate([centres, up1, np.nextafter(up1, F(np.inf)), down1,
                            np.nextafter(down1, F(-np.inf))])
        x = np.clip(x[np.isfinite(x)], -a, a)
        x = x[: x.size - x.size % 15].reshape(-1, 15)
        x = np.concatenate([np.full((x.shape[0], 1), a), x], axis=1).ravel()  # absmax a
        n = x.size
        codes = np.full(n, L.zero_code(table), np.uint8)
        states = [(L.pack_4bit(codes) if bits == 4 else codes, np.zeros(n // 16, F), table)]
        want = [(states[0][0].copy(), states[0][1].copy(), table)]
        hyper = dict(lr=0.0, beta1=0.0, beta2=0.0, weight_decay=0.0)
        L.lowbit_step("lion", np.zeros(n, F), x, want, block_size=16, bits=bits, **hyper)
        kernels.lowbit_step("lion", np.zeros(n, F), x, states, block_size=16, bits=bits,
                            **hyper)
        np.testing.assert_array_equal(states[0][1], want[0][1])
        assert (want[0][1] == a).all()
        np.testing.assert_array_equal(states[0][0], want[0][0], err_msg=name)
        got = L.unpack_4bit(want[0][0], n) if bits == 4 else want[0][0]
        assert np.unique(got).size >= table.size // 2  # the probes reach most codes


def test_bad_calls_are_refused_before_anything_is_written(this_backend, rng):
    """Every condition of check_lowbit, broken one at a time: the backend raises the
    specification's error, word for word (the compiled core tests the same conditions in C
    first and leaves the message to check_lowbit), and writes nothing."""
    kernels = backends.active()
    n = 64
    states = _states("adam", 8, n, 16, rng)
    p = rng.normal(size=n).astype(F)
    g = rng.normal(size=n).astype(F)
    before = p.copy(), [s[0].copy() for s in states], [s[1].copy() for s in states]
    read_only = p.copy()
    read_only.flags.writeable = False
    frozen_codes = states[1][0].copy()
    frozen_codes.flags.writeable = False
    shared = np.zeros(n, np.uint8)  # codes whose last 16 bytes are absmax's
    m, v = states
    param_and_map = v[2].copy()  # a map whose first 64 values are also the parameter
    codes_and_map = np.zeros(4 * 256, np.uint8)  # a map's bytes, the first 64 also m's codes
    bad_calls = [
        (dict(rule="sgd"), ValueError, "unknown low-bit rule"),
        (dict(param=p.astype(np.float64)), TypeError, "param must be a float32"),
        (dict(param=p.astype(">f4")), TypeError, "param must be a float32"),
        (dict(grad=None), TypeError, "grad must be a float32"),
        (dict(param=p.reshape(8, 8)), ValueError, "param must be a contiguous 1-D"),
        (dict(grad=np.repeat(g, 2)[::2]), ValueError, "grad must be a contiguous 1-D"),
        (dict(param=read_only), ValueError, "param is read-only"),
        (dict(grad=g[:10]), ValueError, "grad has 10 elements"),
        (dict(block_size=24), ValueError, "Invalid block_size: 24"),
        (dict(block_size=0), ValueError, "Invalid block_size: 0"),
        (dict(block_size=65536 + 16), ValueError, "Invalid block_size: 65552"),
        (dict(bits=3), ValueError, "bits must be 8 or 4"),
        (dict(states=[m]), ValueError, "takes 2 states, got 1"),
        (dict(states=[m, (v[0][:5], v[1], v[2])]), ValueError,
         "codes must be a contiguous 1-D array of 64"),
        (dict(states=[m, (v[0], v[1].astype(np.float64), v[2])]), TypeError,
         "absmax must be a float32"),
        (dict(states=[m, (v[0], v[1][:3], v[2])]), ValueError,
         "absmax must be a contiguous 1-D array of 4"),
        (dict(states=[m, (v[0], v[1], v[2][:16])]), ValueError,
         "table must be a contiguous 1-D array of 256"),
        (dict(states=[m, (v[0], v[1], v[2].astype(">f4"))]), TypeError,
         "table must be a float32"),
        (dict(states=[m, (frozen_codes, v[1], v[2])]), ValueError, "must be writable"),
        (dict(grad=p), ValueError, "must not overlap"),
        (dict(states=[m, (p.view(np.uint8)[:n], v[1], v[2])]), ValueError, "must not overlap"),
        (dict(states=[m, (shared[:n], shared[n - 16:n].view(F), v[2])]), ValueError,
         "must not overlap"),
        (dict(states=[m, (m[0], v[1], v[2])]), ValueError,
         "states\\[0\\] and states\\[1\\]: codes and absmax must not overlap"),
        (dict(states=[m, (v[0], m[1], v[2])]), ValueError, "states\\[0\\] and states\\[1\\]"),
        (dict(param=param_and_map[:n], states=[m, (v[0], v[1], param_and_map)]), ValueError,
         "states\\[1\\] table must not overlap param"),
        (dict(states=[(codes_and_map[:n], m[1], m[2]), (v[0], v[1], codes_and_map.view(F))]),
         ValueError, "states\\[1\\] table must not overlap param or any codes"),
    ]
    for change, error, match in bad_calls:
        args = dict(rule="adam", param=p, grad=g, states=states, block_size=16, bits=8)
        args.update(change)
        with pytest.raises(error, match=match) as want:
            L.check_lowbit(args["rule"], args["param"], args["grad"], args["states"],
                           args["block_size"], args["bits"])
        with pytest.raises(error) as got:
            kernels.lowbit_step(args["rule"], args["param"], args["grad"], args["states"],
                                block_size=args["block_size"], bits=args["bits"],
                                **_hyper("adam"))
        assert str(got.value) == str(want.value), change
    np.testing.assert_array_equal(p, before[0])
    for s, c, a in zip(states, before[1], before[2]):
        np.testing.assert_array_equal(s[0], c)
        np.testing.assert_array_equal(s[1], a)
    # states as lists rather than tuples: accepted as check_lowbit accepts them
    want_p, want_s = p.copy(), [(c.copy(), a.copy(), t) for c, a, t in states]
    L.lowbit_step("adam", want_p, g, want_s, block_size=16, bits=8, **_hyper("adam"))
    got_s = [[c.copy(), a.copy(), t] for c, a, t in states]
    kernels.lowbit_step("adam", p, g, got_s, block_size=16, bits=8, **_hyper("adam"))
    np.testing.assert_array_equal(p, want_p)
    for (gc, ga, _), (wc, wa, _) in zip(got_s, want_s):
        np.testing.assert_array_equal(gc, wc)
        np.testing.assert_array_equal(ga, wa)


@pytest.mark.parametrize("bits", [8, 4])
def test_a_map_rewritten_in_place_is_read_anew(this_backend, bits, rng):
    """The compiled core finds a map's quantizer tables again by the map array, only while
    the array's bytes are unchanged: a map rewritten in place between steps (here halved)
    gives the specification's bits with its new values."""
    kernels = backends.active()
    n, block = 1000, 64
    states = _states("adam", bits, n, block, rng)
    states = [(c, a, t.copy()) for c, a, t in states]  # writable maps of this test's own
    p = rng.normal(size=n).astype(F)
    g = rng.normal(size=n).astype(F)
    want_p, want_s = p.copy(), [(c.copy(), a.copy(), t) for c, a, t in states]
    for _ in range(2):
        for _, _, table in states:
            table *= F(0.5)  # exact: the maps' values halved, still increasing
        L.lowbit_step("adam", want_p, g, want_s, block_size=block, bits=bits,
                      **_hyper("adam"))
        kernels.lowbit_step("adam", p, g, states, block_size=block, bits=bits,
                            **_hyper("adam"))
        np.testing.assert_array_equal(p, want_p)
        for (c, a, _), (c0, a0, _) in zip(states, want_s):
            np.testing.assert_array_equal(c, c0)
            np.testing.assert_array_equal(a, a0)


def test_a_map_resized_in_place_is_read_anew(this_backend, rng):
    """A 16-entry map grown in place to 256 entries (numpy's resize) between a 4-bit and an
    8-bit step, its first 16 values kept (the bytes compared before are unchanged): the
    8-bit step reads the new map's tables, not the ones found before."""
    kernels = backends.active()
    n = 256
    p = rng.normal(size=n).astype(F)
    g = rng.normal(size=n).astype(F)
    four = _states("adam", 4, n, 128, rng)
    table = np.linspace(-1.0, 0.5, 16, dtype=F)  # a map of this test's own, up to 0.5
    kernels.lowbit_step("adam", p.copy(), g, [(four[0][0], four[0][1], table), four[1]],
                        block_size=128, bits=4, **_hyper("adam"))
    table.resize(256, refcheck=False)
    table[16:] = np.geomspace(0.52, 2.0 ** 10, 240, dtype=F)  # ~20 new values up to 1
    eight = _states("adam", 8, n, 256, rng)
    want_p, got_p = p.copy(), p.copy()
    want = [(c.copy(), a.copy(), table.copy() if k == 0 else t)
            for k, (c, a, t) in enumerate(eight)]
    got = [(c.copy(), a.copy(), table if k == 0 else t) for k, (c, a, t) in enumerate(eight)]
    L.lowbit_step("adam", want_p, g, want, block_size=256, bits=8, **_hyper("adam"))
    kernels.lowbit_step("adam", got_p, g, got, block_size=256, bits=8, **_hyper("adam"))
    np.testing.assert_array_equal(got_p, want_p)
    for (c, a, _), (c0, a0, _) in zip(got, want):
        np.testing.assert_array_equal(c, c0)
        np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("bits,block", [(8, 256), (4, 128), (8, 65536)])
def test_thread_count_does_not_change_the_bits(threads, bits, block, rng):
    """Blocks are split between threads whole, each thread's run requantized one block
    late (one at a time for blocks over 32768): the numpy bits on 1, 2 or 3 threads, above
    the threading threshold."""
    n = 3 * 2 ** 15 + 5 if block < 65536 else 4 * 65536 + 5
    states = _states("adam", bits, n, block, rng)
    p = rng.normal(size=n).astype(F)
    g = rng.normal(size=n).astype(F)
    want_p, want_s = p.copy(), [(c.copy(), a.copy(), t) for c, a, t in states]
    L.lowbit_step("adam", want_p, g, want_s, block_size=block, bits=bits, **_hyper("adam"))
    backends.active().lowbit_step("adam", p, g, states, block_size=block, bits=bits,
                                  **_hyper("adam"))
    np.testing.assert_array_equal(p, want_p)
    for (c, a, _), (c0, a0, _) in zip(states, want_s):
        np.testing.assert_array_equal(c, c0)
        np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("name", L.MAP_NAMES)
def test_split_table_gives_the_reference_code(name, rng):
    # every bucket's boundary and its neighbours, and the probe values
    table = L.qmap(name)
    e = L.split_table(table)
    lut, threshold = L.lookup_tables(table)
    edges = threshold[1:-1].view(np.uint32).astype(np.int64)
    near = np.concatenate([edges + d for d in (-2, -1, 0, 1, 2)]) & 0xFFFFFFFF
    x = np.concatenate([_probe_values(table, rng), near.astype(np.uint32).view(F),
                        np.array([np.inf, -np.inf, 3e38, -3e38, 0.0, -0.0], F),
                        rng.integers(0, 1 << 32, 50000, dtype=np.uint64).astype(
                            np.uint32).view(F)])
    x = x[~np.isnan(x)]
    u = x.view(np.uint32).astype(np.int64)
    entry = e[u >> 16].astype(np.int64)
    key = np.where(u >> 31, 0xFFFF - (u & 0xFFFF), u & 0xFFFF)
    c = (entry & 0xFF) + (key >= entry >> 8)
    want = lut[u >> 16].astype(np.int64)
    want += x >= threshold[want + 1]
    np.testing.assert_array_equal(c, want)
    np.testing.assert_array_equal(c[np.abs(x) <= 1], L.quantize(x[np.abs(x) <= 1], table))
