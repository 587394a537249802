"""Adam8bit, AdamW8bit, AdamW4bit and Lion8bit as optimizers: state layout and size, the
float32 fallback of small tensors, the numpy backend's bits, validation before anything
changes, non-finite gradients, checkpoints and the conversions to and from 32 bits."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd.reference import lowbit as L

F = np.float32
LOWBIT = {"Adam8bit": fastgd.Adam8bit, "AdamW8bit": fastgd.AdamW8bit,
          "AdamW4bit": fastgd.AdamW4bit, "Lion8bit": fastgd.Lion8bit}
FULL = {"Adam8bit": fastgd.Adam, "AdamW8bit": fastgd.AdamW, "AdamW4bit": fastgd.AdamW,
        "Lion8bit": fastgd.Lion}
OPTIONS = {"Adam8bit": {"lr": 0.01, "weight_decay": 0.1},
           "AdamW8bit": {"lr": 0.01, "weight_decay": 0.1},
           "AdamW4bit": {"lr": 0.01, "weight_decay": 0.1},
           "Lion8bit": {"lr": 0.001, "weight_decay": 0.1}}


def _problem(rng, sizes=(5000, 300, 4096)):
    params = [rng.normal(size=n).astype(F) for n in sizes]
    params[0] = params[0].reshape(50, 100)
    return params


def _grads(rng, params, steps):
    return [[rng.normal(size=p.shape).astype(F) * F(0.01) for p in params]
            for _ in range(steps)]


def _run(cls, params, grads, **options):
    opt = cls(params, **options)
    for g in grads:
        opt.step(g)
    return opt


@pytest.mark.parametrize("name", list(LOWBIT))
def test_state_layout_and_bytes_per_parameter(name):
    n = 2 ** 16
    p = np.zeros(n, F)
    opt = LOWBIT[name]([p])
    opt.step([np.full(n, 0.5, F)])
    state = opt.state[0]
    bits = 4 if name == "AdamW4bit" else 8
    assert state["bits"] == bits and state["block_size"] == (128 if bits == 4 else 256)
    codes = state["exp_avg_codes"]
    assert codes.dtype == np.uint8 and codes.shape == (n if bits == 8 else n // 2,)
    assert state["exp_avg_absmax"].dtype == F
    per_param = opt.state_bytes() / n
    if name == "Lion8bit":
        assert per_param == 1 + 4 / 256
    else:
        assert per_param == (2 + 8 / 256 if bits == 8 else 1 + 8 / 128)
        assert per_param <= (2.04 if bits == 8 else 1.07)


@pytest.mark.parametrize("name", list(LOWBIT))
def test_small_tensors_keep_float32_states_and_the_32_bit_bits(name, rng):
    params = [rng.normal(size=n).astype(F) for n in (100, 4095)]
    grads = _grads(rng, params, 4)
    low = _run(LOWBIT[name], [p.copy() for p in params], grads, **OPTIONS[name])
    full_options = {k: v for k, v in OPTIONS[name].items()}
    full = _run(FULL[name], [p.copy() for p in params], grads, **full_options)
    for a, b in zip(low.param_groups[0]["params"], full.param_groups[0]["params"]):
        np.testing.assert_array_equal(a, b)
    assert "exp_avg" in low.state[1] and "exp_avg_codes" not in low.state[1]
    np.testing.assert_array_equal(low.state[1]["exp_avg"], full.state[1]["exp_avg"])


@pytest.mark.parametrize("name", list(LOWBIT))
def test_steps_read_the_shared_maps_without_building_them(name, rng, monkeypatch):
    """A step reads the maps built once (shared_qmap: read-only, equal to qmap's), not new
    ones: building a map took about 0.17 ms, ten times an 8-bit step of 4096 elements."""
    params = _problem(rng)
    opt = LOWBIT[name](params, **OPTIONS[name])
    opt.step(_grads(rng, params, 1)[0])
    built = []

    def counted(build):
        def wrapper(*args, **kwargs):
            built.append(build.__name__)
            return build(*args, **kwargs)
        return wrapper

    for fn in ("create_dynamic_map", "linear_map"):
        monkeypatch.setattr(L, fn, counted(getattr(L, fn)))
    for g in _grads(rng, params, 2):
        opt.step(g)
    assert built == []
    shared = {map_name: L.shared_qmap(map_name) for map_name in L.MAP_NAMES}
    built.clear()
    for map_name, table in shared.items():
        assert table is L.shared_qmap(map_name) and not table.flags.writeable
        fresh = L.qmap(map_name)  # qmap itself still builds a fresh, writable array
        assert fresh.flags.writeable
        np.testing.assert_array_equal(table, fresh)
    assert len(built) == len(L.MAP_NAMES)


@pytest.mark.parametrize("name", list(LOWBIT))
def test_active_backend_gives_the_numpy_bits(name, rng):
    params = _problem(rng)
    grads = _grads(rng, params, 3)
    grads[1][1] = None  # a parameter without a gradient this step
    got = _run(LOWBIT[name], [p.copy() for p in params], grads, **OPTIONS[name])
    with fastgd.use_backend("numpy"):
        want = _run(LOWBIT[name], [p.copy() for p in params], grads, **OPTIONS[name])
    for a, b in zip(got.param_groups[0]["params"], want.param_groups[0]["params"]):
        np.testing.assert_array_equal(a, b)
    for i in range(3):
        for key, value in want.state[i].items():
            np.testing.assert_array_equal(got.state[i][key], value)
    assert got.state[1]["step"] == 2 and got.state[0]["step"] == 3


def test_moments_track_the_32_bit_ones(rng):
    """The bitsandbytes protocol in small: each step from the same dequantized moments,
    the 8-bit step's parameter is the 32-bit step's bits, and its requantized moments are
    within the map's resolution of the float32 ones."""
    p = rng.normal(size=8192).astype(F)
    opt = fastgd.AdamW8bit([p], lr=1e-3)
    grads = _grads(rng, [p], 6)
    opt.step(grads[0])
    for g in grads[1:]:
        m, v = opt.dequantized_state(0).values()
        q = p.copy()
        ref = fastgd.AdamW([q], lr=1e-3)
        ref.state[0] = {"step": opt.state[0]["step"], "exp_avg": m, "exp_avg_sq": v}
        opt.step(g)
        ref.step(g)
        np.testing.assert_array_equal(p, q)
        m8, v8 = opt.dequantized_state(0).values()
        np.testing.assert_allclose(m8, m, rtol=0.05, atol=np.abs(m).max() * 0.02)
        np.testing.assert_allclose(v8, v, rtol=0.05, atol=np.abs(v).max() * 0.02)


@pytest.mark.parametrize("name", list(LOWBIT))
def test_bad_arguments_are_refused_before_anything_changes(name, rng):
    cls = LOWBIT[name]
    p = rng.normal(size=5000).astype(F)
    with pytest.raises(ValueError, match="Invalid block_size: 100"):
        cls([p], block_size=100)
    with pytest.raises(ValueError, match="Invalid block_size: 0"):
        cls([p], block_size=0)
    with pytest.raises(TypeError, match="block_size must be an int"):
        cls([p], block_size=256.0)
    with pytest.raises(TypeError,
                       match="parameter 0 has dtype float64; .* optimizes float32 parameters"):
        cls([p.astype(np.float64)])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        cls([p], lr=-1.0)
    opt = cls([p], **OPTIONS[name])
    opt.step([np.ones_like(p)])
    before = p.copy(), {k: np.copy(v) for k, v in opt.state[0].items()}
    opt.param_groups[0]["block_size"] = 17
    with pytest.raises(ValueError, match="Invalid block_size: 17"):
        opt.step([np.ones_like(p)])
    opt.param_groups[0]["block_size"] = 256
    with pytest.raises(TypeError, match="grads\\[0\\] has dtype float64"):
        opt.step([np.ones(5000)])
    np.testing.assert_array_equal(p, before[0])
    for k, v in before[1].items():
        np.testing.assert_array_equal(opt.state[0][k], v)


def test_nonfinite_gradients(rng):
    p = rng.normal(size=5000).astype(F)
    opt = fastgd.AdamW8bit([p])
    opt.step([np.ones_like(p)])
    before = p.copy(), opt.state[0]["exp_avg_codes"].copy()
    g = np.ones_like(p)
    g[7] = np.nan
    assert opt.step([g], nonfinite="skip") is False
    with pytest.raises(FloatingPointError, match="grads\\[0\\]"):
        opt.step([g], nonfinite="raise")
    np.testing.assert_array_equal(p, before[0])
    np.testing.assert_array_equal(opt.state[0]["exp_avg_codes"], before[1])
    assert opt.state[0]["step"] == 1


@pytest.mark.parametrize("name", list(LOWBIT))
def test_checkpoint_resume_continues_bit_for_bit(name, rng, tmp_path):
    params = _problem(rng)
    grads = _grads(rng, params, 6)
    straight = _run(LOWBIT[name], [p.copy() for p in params], grads, **OPTIONS[name])
    first = [p.copy() for p in params]
    opt = _run(LOWBIT[name], first, grads[:3], **OPTIONS[name])
    fastgd.save(tmp_path / "run.ckpt", optimizer=opt)
    sd = opt.state_dict()
    # through the file
    resumed = [np.zeros_like(p) for p in params]
    opt2 = LOWBIT[name](resumed, **OPTIONS[name])
    fastgd.load(tmp_path / "run.ckpt").restore(optimizer=opt2)
    # through state_dict
    third = [p.copy() for p in first]
    opt3 = LOWBIT[name](third, **OPTIONS[name])
    opt3.load_state_dict(sd)
    for g in grads[3:]:
        opt2.step(g)
        opt3.step(g)
    for a, b, c in zip(straight.param_groups[0]["params"], resumed, third):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    for key, value in straight.state[0].items():
        np.testing.assert_array_equal(opt2.state[0][key], value)
    saved = sd["state"][0]
    assert saved["exp_avg_map"] in L.MAP_NAMES and saved["block_size"] in (128, 256)


def test_loading_across_32_and_low_bit_is_refused(rng):
    p = rng.normal(size=5000).astype(F)
    low = _run(fastgd.AdamW8bit, [p], [[np.ones_like(p)]])
    full = _run(fastgd.AdamW, [p.copy()], [[np.ones_like(p)]])
    with pytest.raises(ValueError, match="not a state dict of AdamW "):
        fastgd.AdamW([p.copy()]).load_state_dict(low.state_dict())
    with pytest.raises(ValueError, match="no block_size: not a state dict of AdamW8bit"
                                         ".*AdamW8bit.from_optimizer"):
        fastgd.AdamW8bit([p.copy()]).load_state_dict(full.state_dict())
    sd = low.state_dict()
    sd["state"][0]["block_size"] = 100
    with pytest.raises(ValueError, match="invalid block_size 100"):
        fastgd.AdamW8bit([p.copy()]).load_state_dict(sd)
    sd = low.state_dict()
    sd["state"][0]["exp_avg_map"] = "dynamic_unsigned_8"
    with pytest.raises(ValueError, match="exp_avg_map is 'dynamic_unsigned_8'"):
        fastgd.AdamW8bit([p.copy()]).load_state_dict(sd)
    sd = low.state_dict()
    sd["state"][0]["exp_avg_codes"] = sd["state"][0]["exp_avg_codes"][:-1]
    target = fastgd.AdamW8bit([p.copy()])
    with pytest.raises(ValueError, match="exp_avg_codes must be uint8 of shape"):
        target.load_state_dict(sd)
    assert target.state == {}


@pytest.mark.parametrize("name", list(LOWBIT))
def test_conversions_to_and_from_32_bits(name, rng):
    params = _problem(rng)
    grads = _grads(rng, params, 3)
    full = _run(FULL[name], [p.copy() for p in params], grads, **OPTIONS[name])
    low = LOWBIT[name].from_optimizer(full)
    assert low.param_groups[0]["params"][0] is full.param_groups[0]["params"][0]
    assert low.state[0]["step"] == full.state[0].get("step", 0)
    m = low.dequantized_state(0)["exp_avg"]
    np.testing.assert_allclose(m, full.state[0]["exp_avg"], rtol=0.2,
                               atol=np.abs(full.state[0]["exp_avg"]).max() * 0.15)
    back = low.to_optimizer()
    assert type(back) is FULL[name]
    for i in range(3):
        for key in ("exp_avg", "exp_avg_sq")[:1 if name == "Lion8bit" else 2]:
            want = low.dequantized_state(i)[key]
            if key == "exp_avg" and name != "Lion8bit":
                want[low.dequantized_state(i)["exp_avg_sq"] == 0] = 0
            np.testing.assert_array_equal(back.state[i][key], want)
    with pytest.raises(TypeError, match="from_optimizer takes a fastgd"):
        LOWBIT[name].from_optimizer(fastgd.SGD([params[0]], lr=0.1))


def test_to_optimizer_masks_moments_where_v_is_zero(rng):
    """A coordinate whose v falls to the zero code while m does not (a tiny gradient in a
    block with a large one) would move by m / eps in the 32-bit optimizer: its m is 0."""
    p = np.zeros(4096, F)
    g = np.full(4096, 1e-5, F)
    g[::256] = 1.0
    opt = fastgd.AdamW8bit([p], weight_decay=0.0)
    opt.step([g])
    state = opt.dequantized_state(0)
    hidden = (state["exp_avg_sq"] == 0) & (state["exp_avg"] != 0)
    assert hidden.any()
    back = opt.to_optimizer()
    assert not back.state[0]["exp_avg"][state["exp_avg_sq"] == 0].any()
    q = back.param_groups[0]["params"][0].copy()
    back.step([np.zeros_like(p)])
    assert np.abs(back.param_groups[0]["params"][0] - q)[hidden].max() == 0



def _kernel_against_the_reference(module, bits, block, rng):
    """Two steps of ``module``'s lowbit_step and of the specification's on blocks of very
    different scales, with values down to 1e-45 of their block's absmax (the normalised
    moment is then subnormal or zero), one value dwarfing its block, an all-zero block, a
    NaN block and a partial last block: the codes, absmax and parameter must be the
    specification's bits."""
    from fastgd.optim.lowbit import MAPS
    n = 6 * block + 37
    scale = np.repeat(10.0 ** rng.uniform(-15, 15, size=-(-n // block)), block)[:n]
    tiny = np.where(rng.random(n) < 0.3, 10.0 ** rng.uniform(-45, 0, size=n), 1.0)
    g = (rng.standard_normal(n) * scale * tiny).astype(F)
    g[block:2 * block] = 0.0
    g[2 * block + 5] = 1e30
    g[4 * block:5 * block] = np.nan
    p0 = rng.standard_normal(n).astype(F)
    out = []
    for mod in (L, module):
        p = p0.copy()
        states = [(np.zeros(n if bits == 8 else (n + 1) // 2, np.uint8),
                   np.zeros(-(-n // block), F), L.qmap(name)) for name in MAPS[bits]]
        for step in (1, 2):
            bc1, bc2_sqrt = fastgd.reference.bias_corrections(0.9, 0.999, step)
            with np.errstate(invalid="ignore", over="ignore"):  # the NaN block, 1e30
                mod.lowbit_step("adam", p, g * F(step), states, block_size=block,
                                bits=bits, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                weight_decay=0.1, bias_correction1=bc1,
                                bias_correction2_sqrt=bc2_sqrt, decoupled_weight_decay=True)
        out.append((p, states))
    (want_p, want_states), (got_p, got_states) = out
    np.testing.assert_array_equal(got_p, want_p)
    for (want_codes, want_absmax, _), (codes, absmax, _) in zip(want_states, got_states):
        np.testing.assert_array_equal(absmax, want_absmax)
        np.testing.assert_array_equal(codes, want_codes)
    assert np.count_nonzero(np.asarray(want_states[0][0]) != want_states[0][0][0]) > n // 4


@pytest.mark.parametrize("bits", [8, 4])
def test_kernel_quantizes_blocks_of_any_dynamic_range_as_the_reference(any_backend, bits,
                                                                       rng):
    from fastgd import backends
    _kernel_against_the_reference(backends.active(), bits, 256 if bits == 8 else 128, rng)


@pytest.mark.parametrize("vbmi", [False, True])
@pytest.mark.parametrize("block", [16, 48, 80, 256])
def test_avx512_8bit_dequantizers_give_the_reference_bits(vbmi, block, rng):
    # The AVX-512 step reads the 8-bit maps by gathers, or by VBMI byte permutes 64 codes
    # at a time (a block of 16, 48 or 80 ends in a partial run of 16 or 48): both must
    # give the specification's bits.
    from fastgd import backends
    if "cython" not in backends.available():
        pytest.skip("the compiled backend is not installed")
    core = backends.load("cython")
    if not core.isas().get("avx512"):
        pytest.skip("this CPU cannot run the AVX-512 kernels")
    if vbmi and not _has_vbmi(core):
        pytest.skip("this CPU has no AVX-512 VBMI")
    isa, before = core.isa(), core.lowbit_vbmi()
    try:
        core.set_isa("avx512")
        core.set_lowbit_vbmi(vbmi)
        _kernel_against_the_reference(core, 8, block, rng)
    finally:
        core.set_lowbit_vbmi(before)
        core.set_isa(isa)


def _has_vbmi(core):
    """Whether this CPU has AVX-512 VBMI (set_lowbit_vbmi(True) is honoured); the core's
    setting is left as it was."""
    before = core.lowbit_vbmi()
    try:
        core.set_lowbit_vbmi(True)
    except ValueError:
        return False
    core.set_lowbit_vbmi(before)
    return True


def test_set_lowbit_vbmi_validates_its_flag():
    from fastgd import backends
    if "cython" not in backends.available():
        pytest.skip("the compiled backend is not installed")
    core = backends.load("cython")
    before = core.lowbit_vbmi()
    with pytest.raises(TypeError, match="flag must be True or False, got 1"):
        core.set_lowbit_vbmi(1)
    assert core.lowbit_vbmi() is before
    if not _has_vbmi(core):
        with pytest.raises(ValueError, match="no AVX-512 VBMI"):
            core.set_lowbit_vbmi(True)
    core.set_lowbit_vbmi(before)
    assert core.lowbit_vbmi() is before
