"""The checks every backend makes before a kernel writes: bad buffers and scalars rejected
in the same words on every backend, before any write; check_only; numpy scalars; the
runner keeping what it checked; the order of sum_of_squares."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd import backends, kernels, reference

# -- validation: the same errors, in the same words, on every backend -------------------------


def _adam_args(dtype=np.float64, n=4):
    return [np.zeros(n, dtype) for _ in range(4)]


_ADAM_SCALARS = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, bias_correction1=0.1,
                     bias_correction2_sqrt=0.03)


def _scalars(extra):
    """The Adam scalars with ``extra`` applied; a None value removes that scalar."""
    merged = {**_ADAM_SCALARS, **extra}
    return {k: v for k, v in merged.items() if v is not None}


def _bad_calls():
    def readonly():
        p, g, m, v = _adam_args()
        m.flags.writeable = False
        return (p, g, m, v), {}

    def overlap():
        p, g, m, v = _adam_args()
        return (p, p, m, v), {}

    def overlap_view():
        p = np.zeros(8)
        return (p[:4], np.ones(4), p[3:7], np.zeros(4)), {}

    return {
        "int dtype": ((np.zeros(4, np.int64),) + tuple(_adam_args()[1:]), {}, TypeError,
                      "dtype int64"),
        "float16": ((np.zeros(4, np.float16),) + tuple(_adam_args()[1:]), {}, TypeError,
                    "dtype float16"),
        "mixed dtypes": ((np.zeros(4, np.float32),) + tuple(_adam_args()[1:]), {}, TypeError,
                         "expected float32"),
        "not an array": (([0.0] * 4,) + tuple(_adam_args()[1:]), {}, TypeError,
                         "must be a numpy.ndarray"),
        "non-contiguous": ((np.zeros(8)[::2],) + tuple(_adam_args()[1:]), {}, ValueError,
                           "C-contiguous"),
        "read-only state": (*readonly(), ValueError, "read-only"),
        "length mismatch": ((np.zeros(5),) + tuple(_adam_args()[1:]), {}, ValueError,
                            "has 4 elements, expected 5"),
        "missing amsgrad buffer": (tuple(_adam_args()), {"amsgrad": True}, ValueError,
                                   "max_exp_avg_sq .* is required"),
        "grad is param": (*overlap(), ValueError, "shares memory"),
        "overlapping views": (*overlap_view(), ValueError, "shares memory"),
        "byte-swapped param": ((np.zeros(4, ">f8"),) + tuple(_adam_args()[1:]), {},
                               TypeError, "dtype >f8"),
        "byte-swapped grad": ((np.zeros(4), np.zeros(4, ">f8")) + tuple(_adam_args()[2:]), {},
                              TypeError, "dtype >f8, expected float64"),
        "lr not a number": (tuple(_adam_args()), {"lr": "0.1"}, TypeError, "lr must be a real"),
        "lr too large": (tuple(_adam_args()), {"lr": 10**400}, ValueError, "too large"),
        "missing scalar": (tuple(_adam_args()), {"beta1": None}, TypeError,
                           "missing required keyword argument 'beta1'"),
        "unknown scalar": (tuple(_adam_args()), {"momentum": 0.9}, TypeError,
                           "unexpected keyword argument 'momentum'"),
        "too many buffers": (tuple(_adam_args()) + (np.zeros(4), np.zeros(4)), {}, TypeError,
                             "at most 5 buffers, got 6"),
        "lr is bool": (tuple(_adam_args()), {"lr": True}, TypeError, "lr must be a real"),
    }


BAD = _bad_calls()


@pytest.mark.parametrize("name", list(BAD))
def test_bad_buffers_are_rejected_before_any_write(any_backend, name):
    buffers, extra, error, pattern = BAD[name]
    before = [b.copy() if isinstance(b, np.ndarray) else b for b in buffers]
    with pytest.raises(error, match=pattern):
        kernels.adam(*buffers, **_scalars(extra))
    for b, saved in zip(buffers, before):
        if isinstance(b, np.ndarray):
            np.testing.assert_array_equal(b, saved)


@pytest.mark.parametrize("name", list(BAD))
def test_every_backend_words_errors_alike(name):
    buffers, extra, error, _ = BAD[name]
    messages = {}
    for backend in backends.available():
        with fastgd.use_backend(backend), pytest.raises(error) as info:
            kernels.adam(*buffers, **_scalars(extra))
        messages[backend] = str(info.value)
    with pytest.raises(error) as info:
        reference.adam(*buffers, **_scalars(extra))
    messages["reference"] = str(info.value)
    assert len(set(messages.values())) == 1, messages


def test_numpy_scalar_hyperparameters_give_the_same_bits(any_backend):
    # every backend computes its per-call scalars (1 - lr*wd, lr/bc1, ...) in float64,
    # whatever the type of the numbers it is given
    p0, g = np.linspace(-1, 1, 7), np.linspace(2, -3, 7)
    f32 = np.float32
    p = p0.copy()
    backends.active().adam_many([p], [g], [np.zeros(7)], [np.zeros(7)], None, lr=f32(0.01),
                                beta1=f32(0.9), beta2=f32(0.999), eps=f32(1e-8),
                                weight_decay=f32(0.1), bias_correction1=f32(0.1),
                                bias_correction2_sqrt=f32(0.03), decoupled_weight_decay=True)
    expected = p0.copy()
    reference.adam(expected, g, np.zeros(7), np.zeros(7), lr=float(np.float32(0.01)),
                   beta1=float(np.float32(0.9)), beta2=float(np.float32(0.999)),
                   eps=float(np.float32(1e-8)), weight_decay=float(np.float32(0.1)),
                   bias_correction1=float(np.float32(0.1)),
                   bias_correction2_sqrt=float(np.float32(0.03)), decoupled_weight_decay=True)
    np.testing.assert_array_equal(p, expected)


def test_zero_bias_correction_gives_inf_steps_not_an_exception(any_backend):
    p = np.ones(2)
    kernels.adam(p, np.ones(2), np.zeros(2), np.zeros(2), lr=0.1, beta1=0.9, beta2=0.999,
                 eps=1e-8, bias_correction1=0.0, bias_correction2_sqrt=0.03)
    assert np.isneginf(p).all()


def test_check_only_validates_without_writing(any_backend):
    many = backends.active().sgd_many
    p = np.ones(3)
    many([p], [np.ones(3)], None, lr=0.1, check_only=True)
    assert (p == 1).all()
    with pytest.raises(ValueError, match="has 2 elements"):
        many([p], [np.ones(2)], None, lr=0.1, check_only=True)


def test_a_bad_second_tensor_leaves_the_first_untouched(any_backend):
    many = backends.active().sgd_many
    p0, p1 = np.ones(3), np.ones(3)
    with pytest.raises(ValueError, match=r"grad \(tensor 1\) has 2 elements"):
        many([p0, p1], [np.ones(3), np.ones(2)], None, lr=0.1)
    assert (p0 == 1).all() and (p1 == 1).all()


def test_list_length_mismatch_is_rejected(any_backend):
    many = backends.active().adagrad_many
    with pytest.raises(ValueError, match="got 2 param buffers but 1 grad buffers"):
        many([np.ones(3), np.ones(3)], [np.ones(3)], [np.ones(3), np.ones(3)], clr=0.1,
             eps=1e-10)


def test_kernels_return_none_and_accept_zero_size(any_backend):
    p = np.zeros(0, np.float32)
    assert kernels.rmsprop(p, p.copy(), p.copy(), lr=0.1, alpha=0.9, eps=1e-8) is None


def test_sum_of_squares_order():
    x = np.arange(1.0, 20.0)
    lanes = [sum(float(v) ** 2 for v in x[j::8]) for j in range(8)]
    expected = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + \
        ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
    assert reference.sum_of_squares(x) == expected
    assert reference.sum_of_squares(np.zeros(0)) == 0.0
    f32 = np.float32([1e-3, 3.0, 7.5])
    assert reference.sum_of_squares(f32) == sum(float(v) ** 2 for v in f32)


# -- the runner keeps what it checked -----------------------------------------------------------


def test_arrays_from_a_list_that_makes_them_anew_stay_alive(any_backend):
    # a list subclass returning a fresh array on each access: the array checked is the one
    # written, and it is kept alive until the kernel returns
    class Fresh(list):
        def __getitem__(self, i):
            return np.zeros(1 << 16)

    many = backends.active().lion_many
    p, g = np.zeros(1 << 16), np.ones(1 << 16)
    many([p], [g], Fresh([None]), lr=0.1, beta1=0.9, beta2=0.99)
    np.testing.assert_array_equal(p, np.full(1 << 16, -0.1))


def test_buffers_needed_follow_the_values_the_kernel_receives(any_backend):
    # a float subclass that compares unlike its value must not make the kernel run without
    # the buffer its value needs
    class Sly(float):
        def __ne__(self, other):
            return False

    many = backends.active().sgd_many
    p = np.zeros(3)
    with pytest.raises(TypeError, match="momentum_buffer"):
        many([p], [np.ones(3)], None, lr=0.1, momentum=Sly(0.5))
    assert (p == 0).all()


def test_missing_and_extra_buffer_lists_are_rejected_before_any_write(any_backend):
    many = backends.active().adam_many
    p, g, m, v = np.ones(3), np.ones(3), np.zeros(3), np.zeros(3)
    scalars = dict(lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8, bias_correction1=0.1,
                   bias_correction2_sqrt=0.1, amsgrad=True)
    with pytest.raises((TypeError, ValueError), match="max_exp_avg_sq"):
        many([p], [g], [m], [v], **scalars)
    with pytest.raises(TypeError, match="at most 5 buffer lists, got 6"):
        many([p], [g], [m], [v], [np.zeros(3)], [np.zeros(3)], **scalars)
    assert (p == 1).all() and (m == 0).all() and (v == 0).all()


def test_buffers_of_another_shape_but_the_same_size_are_flat_on_every_backend(any_backend):
    p, m = np.ones(3), np.ones((1, 3))
    kernels.lion(p, np.ones(3), m, lr=0.1, beta1=0.9, beta2=0.5)
    expected_p, expected_m = np.ones(3), np.ones(3)
    reference.lion(expected_p, np.ones(3), expected_m, lr=0.1, beta1=0.9, beta2=0.5)
    np.testing.assert_array_equal(p, expected_p)
    np.testing.assert_array_equal(m.reshape(-1), expected_m)
    assert m.shape == (1, 3)


@pytest.mark.parametrize("bad,error,pattern", [
    ("x", TypeError, "lion: lr must be a real number, got 'x'"),
    (10**400, ValueError, "lion: lr is too large for a float"),
    (True, TypeError, "lion: lr must be a real number, got True"),
])
def test_direct_calls_name_a_bad_scalar_alike(any_backend, bad, error, pattern):
    p = np.ones(3)
    with pytest.raises(error, match=pattern):
        backends.active().lion_many([p], [np.ones(3)], [np.ones(3)], lr=bad, beta1=0.9,
                                    beta2=0.9)
    assert (p == 1).all()
