"""The low-bit states against bitsandbytes and torchao (test-only dependencies, skipped when
absent): the maps, dequantization and torchao's quantizer bit for bit; whole steps against
torch.optim.AdamW on the dequantized states (bitsandbytes' protocol), torchao's eager
``single_param_adam`` and bitsandbytes' CPU AdamW8bit, within tolerances."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastgd
from fastgd.reference import lowbit as L

torch = pytest.importorskip("torch")
F = np.float32
# Every backend gives the numpy bits (tests/reference/test_lowbit.py): these comparisons run
# in the compiled core's run of the suite, or where it is not built.
pytestmark = pytest.mark.skipif(
    fastgd.backend() != "cython" and "cython" in fastgd.backends.available(),
    reason="the library comparisons run once, on the compiled backend")


def _bnb():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("bitsandbytes")


def _torchao():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("torchao")
        from torchao.optim import adam, quant_utils
    return quant_utils, adam


MAP_ARGS = {"dynamic_signed_8": (True, 7, 8), "dynamic_unsigned_8": (False, 7, 8),
            "dynamic_signed_4": (True, 3, 4)}


@pytest.mark.parametrize("name", list(MAP_ARGS))
def test_maps_equal_bitsandbytes_and_torchao(name):
    ours = L.qmap(name)
    functional = _bnb().functional
    theirs = functional.create_dynamic_map(*MAP_ARGS[name]).numpy()
    # bitsandbytes pads a short map to 256 entries with zeros
    np.testing.assert_array_equal(np.unique(theirs).view(np.uint32), ours.view(np.uint32))
    if ours.size == 256:
        np.testing.assert_array_equal(theirs.view(np.uint32), ours.view(np.uint32))
    quant_utils, _ = _torchao()
    ao = np.asarray(quant_utils.create_dynamic_map(*MAP_ARGS[name]), dtype=F)
    np.testing.assert_array_equal(ao.view(np.uint32), ours.view(np.uint32))


def test_dequantization_equals_bitsandbytes_and_torchao(rng):
    functional = _bnb().functional
    quant_utils, _ = _torchao()
    n, block = 256 * 12, 256
    for name in ("dynamic_signed_8", "dynamic_unsigned_8"):
        table = L.qmap(name)
        codes = rng.integers(0, 256, n).astype(np.uint8)
        absmax = np.abs(rng.normal(0, 1e-2, n // block)).astype(F)
        absmax[3] = 0
        ours = L.dequantize_blocks(codes, absmax, table, block)
        bnb = functional.dequantize_blockwise(
            torch.from_numpy(codes), absmax=torch.from_numpy(absmax),
            code=torch.from_numpy(table), blocksize=block).numpy()
        np.testing.assert_array_equal(bnb.view(np.uint32), ours.view(np.uint32))
        ao = quant_utils.dequant_with_qmap(torch.from_numpy(codes).view(-1, block),
                                           torch.from_numpy(table),
                                           torch.from_numpy(absmax)).numpy().reshape(-1)
        np.testing.assert_array_equal(ao.view(np.uint32), ours.view(np.uint32))


@pytest.mark.parametrize("name", L.MAP_NAMES)
def test_quantizer_equals_torchaos(name, rng):
    quant_utils, _ = _torchao()
    table = L.qmap(name)
    mids = (table[1:] + table[:-1]) / F(2)
    x = np.concatenate([table, mids, np.nextafter(mids, F(2)), np.nextafter(mids, F(-2)),
                        np.nextafter(table, F(2)), np.nextafter(table, F(-2)),
                        rng.uniform(-1, 1, 50000), rng.normal(0, 1e-4, 20000),
                        [0.0, -0.0, 1e-45, -1e-45, 1e-39, 1.0, -1.0]]).astype(F)
    x = np.clip(x, F(-1), F(1))
    quantize = (quant_utils.quantize_8bit_with_qmap if table.size == 256
                else quant_utils.quantize_4bit_with_qmap)
    theirs = quantize(torch.from_numpy(x), torch.from_numpy(table)).numpy()
    np.testing.assert_array_equal(L.quantize(x, table), theirs)
    lut, threshold = L.lookup_tables(table)  # the kernels' form of the same quantizer
    c = lut[x.view(np.uint32) >> 16].astype(np.int64)
    np.testing.assert_array_equal(c + (x >= threshold[c + 1]), theirs)


def test_block_quantization_equals_torchaos(rng):
    """torchao's scale_tensor (absmax per block, IEEE division) then its quantizer: the same
    codes and scales for blocks whose absmax is at least its 1e-12 floor."""
    quant_utils, _ = _torchao()
    block = 256
    state = rng.normal(0, 1e-3, block * 16).astype(F)
    state[:block] *= F(1e-6)
    table = L.qmap("dynamic_signed_8")
    codes, absmax = L.quantize_blocks(state, table, block)
    scaled, scale = quant_utils.scale_tensor(torch.from_numpy(state).view(-1, block), block)
    theirs = quant_utils.quantize_8bit_with_qmap(scaled, torch.from_numpy(table))
    np.testing.assert_array_equal(scale.numpy().reshape(-1), absmax)
    np.testing.assert_array_equal(theirs.numpy().reshape(-1), codes)


def _to_torch_adamw(opt, p, lr, wd):
    """A torch.optim.AdamW at ``opt``'s dequantized moments and step count, on a copy of
    ``p`` (bitsandbytes' protocol: every step from the same states)."""
    tp = torch.nn.Parameter(torch.from_numpy(p.copy()))
    ref = torch.optim.AdamW([tp], lr=lr, weight_decay=wd, foreach=False)
    if 0 in opt.state:
        m, v = (torch.from_numpy(a.copy()) for a in opt.dequantized_state(0).values())
        ref.state[tp] = {"step": torch.tensor(float(opt.state[0]["step"])), "exp_avg": m,
                         "exp_avg_sq": v}
    return tp, ref


@pytest.mark.parametrize("cls,outside", [(fastgd.AdamW8bit, 20), (fastgd.AdamW4bit, 400)])
def test_steps_follow_torch_adamw_on_the_dequantized_states(cls, outside, rng):
    """bitsandbytes' test_optimizer8bit in small (shape 64 x 257, partial blocks): each
    step, torch.optim.AdamW runs from the 8-bit optimizer's dequantized moments; the
    parameters agree (mean |dp| < 6e-5, mean relative error < 6e-4) and fewer than
    ``outside`` moment elements fall outside atol 3e-3 / rtol 1e-3 (4 bits: wider)."""
    p = rng.normal(size=(64, 257)).astype(F)
    opt = cls([p], lr=1e-3, weight_decay=0.01)
    for _ in range(12):
        g = (rng.normal(size=p.shape) * 0.01).astype(F)
        tp, ref = _to_torch_adamw(opt, p, 1e-3, 0.01)
        tp.grad = torch.from_numpy(g.copy())
        ref.step()
        opt.step([g])
        want = tp.detach().numpy()
        err = np.abs(p - want)
        assert err.mean() < 6e-5 and (err / (np.abs(want) + 1e-8)).mean() < 6e-4
        m, v = opt.dequantized_state(0).values()
        for ours, theirs in ((m, ref.state[tp]["exp_avg"]), (v, ref.state[tp]["exp_avg_sq"])):
            theirs = theirs.numpy()
            bad = np.abs(ours - theirs) > 3e-3 + 1e-3 * np.abs(theirs)
            assert bad.sum() < outside


def test_steps_follow_torchaos_eager_single_param_adam(rng):
    """torchao's update (eager, on CPU) from the same dequantized moments: the parameter
    within a few ulps (its v is a lerp where torch's and ours is mul + addcmul), and the
    requantized codes of its moments (its scale_tensor and quantizer) nearly all equal."""
    quant_utils, adam = _torchao()
    n, block = 4096 * 2, 256
    p = rng.normal(size=n).astype(F)
    opt = fastgd.AdamW8bit([p], lr=1e-3, weight_decay=0.01)
    opt.step([(rng.normal(size=n) * 0.01).astype(F)])
    for _ in range(3):
        g = (rng.normal(size=n) * 0.01).astype(F)
        m, v = (torch.from_numpy(a.copy()) for a in opt.dequantized_state(0).values())
        tp = torch.from_numpy(p.copy())
        step = torch.tensor(float(opt.state[0]["step"] + 1))
        adam.single_param_adam(tp, torch.from_numpy(g), step, m, v, None,
                               torch.tensor(1e-3), 0.9, 0.999, 0.01, 1e-8, True, False)
        opt.step([g])
        # torchao's decay and bias corrections round otherwise (a float32 step count, lr a
        # tensor): an ulp or two of p, and ~1e-5 lr near 0
        np.testing.assert_allclose(p, tp.numpy(), rtol=3e-7, atol=1e-4 * 1e-3)
        for state, key, table in ((m, "exp_avg", "dynamic_signed_8"),
                                  (v, "exp_avg_sq", "dynamic_unsigned_8")):
            scaled, _ = quant_utils.scale_tensor(state.view(-1, block), block)
            codes = quant_utils.quantize_8bit_with_qmap(
                scaled, torch.from_numpy(L.qmap(table))).numpy().reshape(-1)
            assert (codes != opt.state[0][key + "_codes"]).mean() < 0.01


def test_bitsandbytes_cpu_adamw8bit_within_tolerance(rng):
    """bitsandbytes' own CPU AdamW8bit (an approximate table quantizer, mul + add moments)
    over 10 steps from the same start: the parameters stay within a small fraction of the
    distance they travelled."""
    bnb = _bnb()
    p = rng.normal(size=(16, 1024)).astype(F)
    tp = torch.nn.Parameter(torch.from_numpy(p.copy()))
    try:
        theirs = bnb.optim.AdamW8bit([tp], lr=1e-3, weight_decay=0.01)
    except Exception as exc:  # a build without the CPU library
        pytest.skip(f"bitsandbytes' CPU AdamW8bit: {exc}")
    start = p.copy()
    ours = fastgd.AdamW8bit([p], lr=1e-3, weight_decay=0.01)
    for _ in range(10):
        g = (rng.normal(size=p.shape) * 0.01).astype(F)
        tp.grad = torch.from_numpy(g.copy())
        theirs.step()
        ours.step([g])
    moved = np.abs(tp.detach().numpy() - start).mean()
    assert moved > 2e-3
    assert np.abs(p - tp.detach().numpy()).mean() < 0.02 * moved
