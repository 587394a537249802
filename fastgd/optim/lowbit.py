"""Adam, AdamW and Lion with block-wise 8-bit or 4-bit states (bitsandbytes' and torchao's
format): their rows, plan, state handling and conversions.

Each moment of a parameter with at least ``min_quantized_size`` elements is kept as codes
(uint8, one per element; for 4 bits two per byte, the even element in the high nibble) and
one float32 absmax per block of ``block_size`` elements, with the maps of
:mod:`fastgd.reference.lowbit`; smaller parameters keep float32 moments and take the 32-bit
rule's step. A step dequantizes, updates in float32 with the 32-bit rule's arithmetic
(fastgd.AdamW / Adam / Lion: the parameter takes this step's unquantized moments), and
requantizes with the updated blocks' ``max(abs(state))`` (see
:func:`fastgd.reference.lowbit.lowbit_step`). Parameters are float32.

A parameter's state: ``step``, and either ``exp_avg`` (``exp_avg_sq``) float32 arrays of the
parameter's shape, or ``exp_avg_codes``, ``exp_avg_absmax`` (and ``exp_avg_sq_codes``,
``exp_avg_sq_absmax``) with ``exp_avg_map`` (``exp_avg_sq_map``), the names of the maps,
and ``block_size`` and ``bits``: the checkpoint holds what it takes to read the codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fastgd.optim._loading import check_saved_group_keys, loaded_step
from fastgd.optim._planning import Call, MixinBase
from fastgd.optim.optimizer import Optimizer, make_class
from fastgd.optim.spec import (
    BETAS_RULES,
    EPS,
    LR,
    MAXIMIZE,
    WD,
    Hyperparameter,
    OptimizerSpec,
    Rule,
    hyper,
)
from fastgd.reference._common import bias_corrections
from fastgd.reference.lowbit import (
    MAP_NAMES,
    VECTOR_WIDTH,
    dequantize_blocks,
    pack_4bit,
    quantize_blocks,
    shared_qmap,
    unpack_4bit,
    zero_code,
)

__all__ = ["Adam8bit", "AdamW8bit", "Lion8bit", "AdamW4bit"]

#: The maps of each state by bit width: (exp_avg's, exp_avg_sq's).
MAPS = {8: ("dynamic_signed_8", "dynamic_unsigned_8"),
        4: ("dynamic_signed_4", "linear_unsigned_4")}


def _block_rule(name: str = "block_size") -> Rule:
    return Rule(lambda g: 0 < g[name] <= 2 ** 16 and g[name] % VECTOR_WIDTH == 0,
                "Invalid " + name + ": {" + name + "} (a positive multiple of "
                + str(VECTOR_WIDTH) + ", at most 65536)")


def _lowbit_hyper(block_size: int) -> tuple[Hyperparameter, ...]:
    return (
        Hyperparameter("block_size", block_size, "int",
                       f"elements per quantization block (a multiple of {VECTOR_WIDTH})",
                       keyword_only=True),
        Hyperparameter("min_quantized_size", 4096, "int",
                       "parameters with fewer elements keep float32 states",
                       keyword_only=True),
    )


_LOWBIT_RULES = (_block_rule(), Rule(lambda g: g["min_quantized_size"] >= 0,
                                      "Invalid min_quantized_size: {min_quantized_size}"))


def _example(name: str) -> tuple[str, ...]:
    return ("w = np.zeros(10000, np.float32)  # float32 parameters",
            f"opt = fastgd.{name}([w], lr=1e-3)",
            "opt.step([np.ones(10000, np.float32)])",
            "opt.state[0]['exp_avg_codes'].dtype, opt.state_bytes() / w.size  # uint8, ~2 or ~1")


def _state_doc(moments: tuple[str, ...]) -> tuple[str, ...]:
    """The state entries of a quantized parameter: per moment its codes, block maxima
    and map name, then the block size and bit width (float32 moments below
    ``min_quantized_size``)."""
    return tuple(f"{m}_codes/_absmax/_map" for m in moments) + ("block_size", "bits")


def _adam_spec(name: str, bits: int, block_size: int, decoupled: bool, wd: float) -> OptimizerSpec:
    kind = "AdamW" if decoupled else "Adam"
    return OptimizerSpec(
        name=name,
        kernel="lowbit_adam",
        matches=("paper: Dettmers et al. (2022)" if bits == 8 else "paper: Li et al. (2023)"),
        summary=f"{kind} with block-wise {bits}-bit moments (block absmax scaling, "
                f"bitsandbytes/torchao maps); the update is fastgd.{kind}'s float32 "
                f"arithmetic on the dequantized moments.",
        hyperparameters=(
            hyper("lr", 1e-3, "learning rate"),
            hyper("betas", (0.9, 0.999), "coefficients of the running averages of the "
                                         "gradient and of its square"),
            hyper("eps", 1e-8, "term added to the denominator"),
            hyper("weight_decay", wd, "decoupled weight decay, p <- p (1 - lr wd)" if decoupled
                  else "L2 penalty, g <- g + wd p"),
            MAXIMIZE,
            *_lowbit_hyper(block_size),
            Hyperparameter("decoupled_weight_decay", decoupled, "bool",
                           "decoupled (AdamW) weight decay", argument=False),
        ),
        rules=(LR, EPS, *BETAS_RULES, WD, *_LOWBIT_RULES),
        state=(),
        kernel_table=False,
        step_functions=("lowbit_step",),
        fixed_on_load={"decoupled_weight_decay": decoupled},
        state_doc=_state_doc(("exp_avg", "exp_avg_sq")),
        example=_example(name),
    )


def _lion_spec() -> OptimizerSpec:
    return OptimizerSpec(
        name="Lion8bit",
        kernel="lowbit_lion",
        matches="paper: Chen et al. (2023), 8-bit states",
        summary="Lion with a block-wise 8-bit momentum; the update is fastgd.Lion's float32 "
                "arithmetic on the dequantized momentum.",
        hyperparameters=(
            hyper("lr", 1e-4, "learning rate"),
            hyper("betas", (0.9, 0.99), "decay rates: beta1 mixes the step direction, beta2 "
                                        "the stored momentum"),
            hyper("weight_decay", 0.0, "decoupled weight decay, p <- p (1 - lr wd)"),
            MAXIMIZE,
            *_lowbit_hyper(256),
        ),
        rules=(LR, *BETAS_RULES, WD, *_LOWBIT_RULES),
        state=(),
        kernel_table=False,
        step_functions=("lowbit_step",),
        state_doc=_state_doc(("exp_avg",)),
        example=_example("Lion8bit"),
    )


def _names(rule: str) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq") if rule == "adam" else ("exp_avg",)


def fresh_state(p: np.ndarray, group: Mapping, bits: int, rule: str) -> dict:
    """The state of a parameter before its first step: zero moments, quantized (all blocks
    absmax 0, the zero code) when ``p.size >= min_quantized_size``."""
    state: dict[str, Any] = {"step": 0}
    if p.size < group["min_quantized_size"] or p.size == 0:
        for name in _names(rule):
            state[name] = np.zeros_like(p)
        return state
    block = group["block_size"]
    n_blocks = -(-p.size // block)
    state.update(block_size=block, bits=bits)
    for name, map_name in zip(_names(rule), MAPS[bits]):
        zero = zero_code(shared_qmap(map_name))
        codes = np.full(p.size, zero, np.uint8)
        state[name + "_codes"] = pack_4bit(codes) if bits == 4 else codes
        state[name + "_absmax"] = np.zeros(n_blocks, np.float32)
        state[name + "_map"] = map_name
    return state


def is_quantized(state: Mapping) -> bool:
    """Whether a parameter's state holds codes (else float32 moments)."""
    return "exp_avg_codes" in state


def dequantized(state: Mapping, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Moment ``name`` of a parameter's state as a float32 array of ``shape`` (a copy)."""
    if not is_quantized(state):
        return np.array(state[name], dtype=np.float32)
    n = int(np.prod(shape))
    codes = state[name + "_codes"]
    if state["bits"] == 4:
        codes = unpack_4bit(codes, n)
    table = shared_qmap(state[name + "_map"])
    return dequantize_blocks(codes, state[name + "_absmax"], table,
                             state["block_size"]).reshape(shape)


class _LowBitCall(Call):
    """The low-bit steps (and 32-bit steps of small tensors) of a group's parameters."""

    __slots__ = ()

    def run(self, kernels: Any, check_only: bool = False) -> None:
        for check in (True,) if check_only else (True, False):  # all checked, then run
            for kind, args, scalars in self.lists:
                if kind == "lowbit":
                    kernels.lowbit_step(*args, check_only=check, **scalars)
                else:
                    getattr(kernels, kind)(*args, check_only=check, **scalars)


def _plan(opt, group, items, needed):
    rule = opt._rule
    beta1, beta2 = group["betas"]
    work, updates = [], []
    for i, p, g in items:
        state = opt.state.get(i)
        fresh = None
        if state is None:
            state = fresh = fresh_state(p, group, opt._bits, rule)
        step = state["step"] + 1
        if rule == "adam":
            bc1, bc2_sqrt = bias_corrections(beta1, beta2, step)
            scalars = dict(lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                           weight_decay=group["weight_decay"], bias_correction1=bc1,
                           bias_correction2_sqrt=bc2_sqrt,
                           decoupled_weight_decay=group["decoupled_weight_decay"],
                           maximize=group["maximize"])
        else:
            scalars = dict(lr=group["lr"], beta1=beta1, beta2=beta2,
                           weight_decay=group["weight_decay"], maximize=group["maximize"])
        if is_quantized(state):
            states = [(state[name + "_codes"], state[name + "_absmax"],
                       shared_qmap(state[name + "_map"])) for name in _names(rule)]
            work.append(("lowbit", (rule, p.reshape(-1), g.reshape(-1), states),
                         {**scalars, "block_size": state["block_size"],
                          "bits": state["bits"]}))
        elif rule == "adam":
            work.append(("adam_many", ([p], [g], [state["exp_avg"]], [state["exp_avg_sq"]],
                                       None), scalars))
        else:
            work.append(("lion_many", ([p], [g], [state["exp_avg"]]),
                         {k: v for k, v in scalars.items()}))
        updates.append((i, {**(fresh or {}), "step": step}))
    return [_LowBitCall("lowbit_step", work, {}, updates)]


def _loaded(index: int, p: np.ndarray, saved: Any, rule: str) -> dict:
    """A saved low-bit state, checked and copied (a float32 state of the 32-bit optimizer
    lacks the codes: convert it with ``from_optimizer``)."""
    if not isinstance(saved, Mapping):
        raise TypeError(f"state of parameter {index} must be a dict, got "
                        f"{type(saved).__name__}")
    names = _names(rule)
    if "step" not in saved:
        raise ValueError(f"state of parameter {index} lacks step")
    state: dict[str, Any] = {"step": loaded_step(index, saved["step"])}
    if "exp_avg_codes" not in saved:
        keys = set(saved) - {"step"}
        if keys != set(names):
            raise ValueError(f"state of parameter {index} has {sorted(keys)}, expected "
                             f"{list(names)} (float32) or their codes")
        for name in names:
            arr = np.asarray(saved[name])
            if arr.shape != p.shape or not np.issubdtype(arr.dtype, np.floating):
                raise ValueError(f"state of parameter {index}: {name} must be a float array "
                                 f"of shape {p.shape}, got {arr.dtype} {arr.shape}")
            state[name] = np.array(arr, dtype=np.float32, order="C")
        return state
    expected = {"step", "block_size", "bits"} | {
        name + suffix for name in names for suffix in ("_codes", "_absmax", "_map")}
    if set(saved) != expected:
        raise ValueError(f"state of parameter {index} has {sorted(saved)}, expected "
                         f"{sorted(expected)}")
    bits, block = saved["bits"], saved["block_size"]
    if bits not in (8, 4) or isinstance(bits, bool):
        raise ValueError(f"state of parameter {index}: bits must be 8 or 4, got {bits!r}")
    if (isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block <= 0
            or block % VECTOR_WIDTH or block > 2 ** 16):
        raise ValueError(f"state of parameter {index}: invalid block_size {block!r}")
    state.update(bits=int(bits), block_size=int(block))
    n = p.size
    for name, map_name in zip(names, MAPS[int(bits)]):
        if saved[name + "_map"] != map_name:
            raise ValueError(f"state of parameter {index}: {name}_map is "
                             f"{saved[name + '_map']!r}, expected {map_name!r} (known maps: "
                             f"{MAP_NAMES})")
        codes = np.asarray(saved[name + "_codes"])
        absmax = np.asarray(saved[name + "_absmax"])
        n_codes = n if bits == 8 else (n + 1) // 2
        if codes.dtype != np.uint8 or codes.shape != (n_codes,):
            raise ValueError(f"state of parameter {index}: {name}_codes must be uint8 of "
                             f"shape ({n_codes},), got {codes.dtype} {codes.shape}")
        if bits == 8 and int(codes.max(initial=0)) >= 256:
            raise ValueError(f"state of parameter {index}: a code is out of range")
        if absmax.dtype != np.float32 or absmax.shape != (-(-n // block),):
            raise ValueError(f"state of parameter {index}: {name}_absmax must be float32 of "
                             f"shape ({-(-n // block)},), got {absmax.dtype} {absmax.shape}")
        state[name + "_codes"] = codes.copy()
        state[name + "_absmax"] = absmax.copy()
        state[name + "_map"] = map_name
    return state


class _LowBitMethods(MixinBase):
    """Float32 parameters, the checkpoints of codes and the conversions to and from the
    32-bit optimizer."""

    _rule: str
    _bits: int
    _full: str  # the 32-bit class's name
    spec: OptimizerSpec
    defaults: dict[str, Any]
    _validated: list[tuple]
    _fast: Any

    if TYPE_CHECKING:
        def _check_hyperparameters(self, group: Mapping[str, Any]) -> None: ...

        def _snapshot(self, group: Mapping[str, Any]) -> tuple: ...

        def _needed_state(self, group: Mapping[str, Any]) -> frozenset[str]: ...

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        params = param_group.get("params", []) if isinstance(param_group, Mapping) else []
        if isinstance(params, np.ndarray):
            params = [params]
        elif not isinstance(params, (list, tuple, set, frozenset)):
            try:
                params = list(params)
            except TypeError:
                params = []
            else:
                param_group = {**param_group, "params": params}
        first = sum(len(g["params"]) for g in getattr(self, "param_groups", ()))
        for i, p in enumerate(params):
            if isinstance(p, np.ndarray) and p.dtype != np.float32:
                raise TypeError(f"parameter {first + i} has dtype {p.dtype}; "
                                f"{self.spec.name} optimizes float32 parameters (16-bit "
                                f"parameters: the 32-bit optimizers)")
        Optimizer.add_param_group(self, param_group)  # type: ignore[arg-type]

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict` of this class (codes, absmax, maps, block size and bits,
        or float32 moments for small parameters), checked before anything is replaced. A
        state dict of the 32-bit optimizer is refused: convert with :meth:`from_optimizer`."""
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("state_dict must be a dict with 'state' and 'param_groups'")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, the "
                             f"optimizer has {len(self.param_groups)}")
        if not isinstance(state_dict["state"], Mapping):
            raise TypeError("state_dict['state'] must be a dict keyed by parameter id")
        targets: dict[Any, tuple[int, np.ndarray]] = {}
        groups, first = [], 0
        for k, (ours, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if not isinstance(saved, Mapping) or "params" not in saved:
                raise ValueError("each saved parameter group must be a dict with 'params'")
            if len(saved["params"]) != len(ours["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
            if "block_size" not in saved:
                raise ValueError(f"saved parameter group {k} has no block_size: not a state "
                                 f"dict of {self.spec.name} (one of the 32-bit "
                                 f"fastgd.{self._full}? convert that optimizer with "
                                 f"{self.spec.name}.from_optimizer)")
            check_saved_group_keys(self.spec, k, saved)
            group = {**self.defaults, **{key: v for key, v in saved.items() if key != "params"},
                     **self.spec.fixed_on_load}
            if isinstance(group.get("betas"), list):
                group["betas"] = tuple(group["betas"])
            self._check_hyperparameters(group)
            group["params"] = ours["params"]
            for j, (saved_id, p) in enumerate(zip(saved["params"], ours["params"])):
                targets[saved_id] = (first + j, p)
            first += len(ours["params"])
            groups.append(group)
        new_state = {}
        for saved_id, saved_state in state_dict["state"].items():
            if saved_id not in targets:
                raise ValueError(f"state dict has state for parameter id {saved_id!r}, which "
                                 f"is not in its param_groups")
            index, p = targets[saved_id]
            new_state[index] = _loaded(index, p, saved_state, self._rule)
        self.param_groups[:] = groups
        self._validated = [self._snapshot(g) for g in groups]
        self._needed = [self._needed_state(g) for g in groups]
        self.state = new_state
        self._fast = None

    def state_bytes(self) -> int:
        """Bytes held by the moments of every parameter (codes, absmax, float32 moments)."""
        return sum(v.nbytes for s in self.state.values() for v in s.values()
                   if isinstance(v, np.ndarray))

    def dequantized_state(self, index: int) -> dict[str, np.ndarray]:
        """The float32 moments of parameter ``index`` (copies, the parameter's shape)."""
        p = self._param(index)
        state = self.state[index]
        return {name: dequantized(state, name, p.shape) for name in _names(self._rule)}

    def _param(self, index: int) -> np.ndarray:
        params = [p for g in self.param_groups for p in g["params"]]
        return params[index]

    def to_optimizer(self) -> Optimizer:
        """The 32-bit optimizer (fastgd.Adam / AdamW / Lion) over the same parameters, with
        the same groups and the dequantized moments. Where a dequantized ``exp_avg_sq`` is 0
        (an all-zero block), ``exp_avg`` is set to 0 too: a residue of m over v = 0 would
        otherwise move the parameter by m / eps."""
        from fastgd.optim.registry import CLASSES

        cls = CLASSES[self._full]
        drop = {"block_size", "min_quantized_size", "decoupled_weight_decay"}
        groups = [{k: v for k, v in g.items() if k not in drop} for g in self.param_groups]
        opt = cls(groups)
        for index, state in self.state.items():
            p = self._param(index)
            moments = {name: dequantized(state, name, p.shape) for name in _names(self._rule)}
            if "exp_avg_sq" in moments:
                moments["exp_avg"][moments["exp_avg_sq"] == 0] = 0
            entry: dict[str, Any] = {**moments}
            if cls.spec.counts_steps:
                entry["step"] = state["step"]
            opt.state[index] = entry
        return opt

    @classmethod
    def from_optimizer(cls, optimizer: Optimizer, **options: Any) -> Any:
        """This class over ``optimizer``'s parameters and groups (fastgd.Adam / AdamW /
        Lion), its moments quantized (``options``: block_size, min_quantized_size)."""
        from fastgd.optim.registry import CLASSES

        full = cls._full
        if not isinstance(optimizer, CLASSES[full]):
            raise TypeError(f"{cls.spec.name}.from_optimizer takes a fastgd.{full}, got "
                            f"{type(optimizer).__name__}")
        names = {h.name for h in cls.spec.hyperparameters}
        groups = []
        for g in optimizer.param_groups:
            if g.get("amsgrad") or g.get("eps_root") is not None:
                raise ValueError(f"{cls.spec.name} has no amsgrad and no eps_root (optax's "
                                 f"form): {type(optimizer).__name__}'s group has "
                                 f"amsgrad={g.get('amsgrad')!r}, eps_root={g.get('eps_root')!r}")
            groups.append({k: v for k, v in g.items() if (k in names or k == "params")
                           and k != "decoupled_weight_decay"} | options)
        opt = cls(groups)  # type: ignore[call-arg]
        rule, bits = cls._rule, cls._bits
        flat = [(p, g) for g in opt.param_groups for p in g["params"]]
        for index, state in optimizer.state.items():
            p, group = flat[index]
            new = fresh_state(p, group, bits, rule)
            new["step"] = int(state.get("step", 0))
            for name in _names(rule):
                m = np.asarray(state[name], dtype=np.float32).reshape(-1)
                if is_quantized(new):
                    table = shared_qmap(new[name + "_map"])
                    codes, absmax = quantize_blocks(m, table, new["block_size"])
                    new[name + "_codes"] = pack_4bit(codes) if bits == 4 else codes
                    new[name + "_absmax"] = absmax
                else:
                    new[name] = m.reshape(p.shape).copy()
            opt.state[index] = new
        return opt


def _make(spec: OptimizerSpec, rule: str, bits: int, full: str) -> type[Optimizer]:
    cls = make_class(spec, _plan, (_LowBitMethods,))
    cls._rule, cls._bits, cls._full = rule, bits, full  # type: ignore[attr-defined]
    return cls


Adam8bit = _make(_adam_spec("Adam8bit", 8, 256, False, 0.0), "adam", 8, "Adam")
AdamW8bit = _make(_adam_spec("AdamW8bit", 8, 256, True, 1e-2), "adam", 8, "AdamW")
AdamW4bit = _make(_adam_spec("AdamW4bit", 4, 128, True, 1e-2), "adam", 4, "AdamW")
Lion8bit = _make(_lion_spec(), "lion", 8, "Lion")
