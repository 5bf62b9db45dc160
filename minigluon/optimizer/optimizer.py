"""The ``Optimizer`` base class, its registry and the ``Updater`` that keeps per-weight state.

An optimizer updates a weight NDArray in place from its gradient: ``update(index, weight,
grad, state)``.  Everything a rule shares lives here: the learning rate (fixed, or from an
``lr_scheduler`` at the current update count), per-index multipliers (``lr_mult``,
``wd_mult``, from a Trainer's Parameters or set by index or name), the update counts, and
the float16 master copy of ``multi_precision``.  The rules themselves (``sgd.py``,
``adaptive.py``) are numpy arithmetic in the weight's dtype, in the order MXNet 1.9.1's
kernels compute, so float32 results agree with MXNet to the last bits.
"""
from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np

from ..base import MXNetError
from ..ndarray import NDArray


class OptionError(TypeError, ValueError):
    """An optimizer option that does not exist.  MXNet's constructors raise TypeError
    (an unexpected keyword argument); this is one, and a ValueError."""


def memory(x: NDArray) -> np.ndarray:
    """The writable numpy memory of x (a broadcast view gets its own copy first), which an
    update writes in place."""
    if not x._data.flags.writeable:
        x._data = x._data.copy()
    return x._data


def check_pair(weight: Any, grad: Any, state_name: str = "weight") -> None:
    """MXNet asserts both are NDArrays; a shape or dtype mismatch is named."""
    if not isinstance(weight, NDArray) or not isinstance(grad, NDArray):
        raise AssertionError(f"optimizer update: weight and grad must be NDArrays, got "
                             f"{type(weight).__name__} and {type(grad).__name__}")
    if weight.shape != grad.shape:
        raise ValueError(f"optimizer update: grad shape {grad.shape} does not match "
                         f"{state_name} shape {weight.shape}")
    if weight.dtype != grad.dtype:
        raise MXNetError(f"optimizer update: grad dtype {grad.dtype} does not match "
                         f"{state_name} dtype {weight.dtype}")


def zeros_like(weight: NDArray, dtype: Any = None) -> NDArray:
    return NDArray(np.zeros(weight.shape, dtype=dtype or weight.dtype))


def kernel_scalar(dtype: type, value: Any) -> Any:
    """A scalar as MXNet's kernels see it: their parameters are C floats (float32), then
    converted to the weight's dtype (so a float64 weight gets a float32-rounded rate)."""
    return dtype(np.float32(value))


def clip(x: np.ndarray, bound: Any) -> np.ndarray:
    return np.clip(x, -bound, bound)


class Optimizer:
    """Base class of all optimizers.

    ``rescale_grad`` multiplies every gradient first (a Trainer sets ``1 / batch_size``);
    ``clip_gradient`` clips to ``[-c, c]``; ``wd`` is the L2 weight decay;
    ``learning_rate`` defaults to 0.01, or to ``lr_scheduler.base_lr`` when a scheduler is
    given (a given ``learning_rate`` overrides the scheduler's ``base_lr``).
    ``param_idx2name`` names indices; a named index whose name ends neither in ``_weight``
    nor ``_gamma`` gets ``wd_mult`` 0 unless set.  ``param_dict`` (index -> Parameter, set
    by a Trainer) supplies each Parameter's ``lr_mult`` and ``wd_mult``, which take
    precedence.  ``multi_precision=True`` updates float16 weights through a float32 master
    copy kept in the state.
    """

    opt_registry: dict[str, type] = {}

    def __init__(self, rescale_grad: float = 1.0, param_idx2name: dict | None = None,
                 wd: float = 0.0, clip_gradient: float | None = None,
                 learning_rate: float | None = None, lr_scheduler: Any = None, sym: Any = None,
                 begin_num_update: int = 0, multi_precision: bool = False,
                 param_dict: dict | None = None):
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if lr_scheduler is not None and learning_rate is not None \
                and lr_scheduler.base_lr != learning_rate:
            warnings.warn("learning rate from ``lr_scheduler`` has been overwritten by "
                          "``learning_rate`` in optimizer.", UserWarning, stacklevel=2)
            lr_scheduler.base_lr = learning_rate
        self.wd = wd
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._all_index_update_counts: dict = {0: {}}
        self._index_update_count = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        if param_idx2name is None:
            param_idx2name = {}
        if not isinstance(param_idx2name, dict):
            raise AssertionError("param_idx2name should be a dict of param indexes to names, "
                                 f"got {type(param_idx2name).__name__}")
        self.idx2name = dict(param_idx2name)
        self.sym_info = ((sym.attr_dict(), sym.list_arguments())
                         if sym is not None and hasattr(sym, "attr_dict") else ())
        self.param_dict = param_dict if param_dict else {}
        self.set_lr_mult({})
        self.set_wd_mult({})

    # --- registry ---------------------------------------------------------------------------
    @staticmethod
    def register(klass: type) -> type:
        """Make ``klass`` creatable by its lower-cased class name (a decorator)."""
        if not isinstance(klass, type):
            raise AssertionError(f"Optimizer.register takes a class, got {klass!r}")
        name = klass.__name__.lower()
        if name in Optimizer.opt_registry:
            old = Optimizer.opt_registry[name]
            warnings.warn(f"WARNING: New optimizer {klass.__module__}.{klass.__name__} is "
                          f"overriding existing optimizer {old.__module__}.{old.__name__}",
                          stacklevel=2)
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name: str, **kwargs) -> Optimizer:
        """An instance of the optimizer registered as ``name`` (case-insensitive)."""
        klass = Optimizer.opt_registry.get(str(name).lower())
        if klass is None:
            raise ValueError(f"Cannot find optimizer {name!r} (unknown optimizer; have: "
                             f"{', '.join(sorted(Optimizer.opt_registry))})")
        options = _options(klass)
        if options is not None:
            unknown = sorted(set(kwargs) - options)
            if unknown:
                raise OptionError(f"optimizer {name} has no option {unknown[0]!r} (options: "
                                  f"{', '.join(sorted(options - {'param_dict', 'sym'}))})")
        return klass(**kwargs)

    # --- learning rate and multipliers ------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The rate the next update uses (the scheduler's at the current count)."""
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr: float) -> None:
        """Set a fixed rate; refused (UserWarning, as MXNet) when a scheduler owns it."""
        if self.lr_scheduler is not None:
            raise UserWarning("LRScheduler of the optimizer has already been defined. Note that "
                              "set_learning_rate can mutate the value of the learning rate of "
                              "the optimizer only when the LRScheduler of the optimizer is "
                              "undefined.")
        self.lr = lr

    def set_lr_scale(self, args_lrscale: dict) -> None:
        """Removed in MXNet; use :meth:`set_lr_mult`."""
        raise DeprecationWarning("set_lr_scale is deprecated: use set_lr_mult")

    def set_lr_mult(self, args_lr_mult: dict) -> None:
        """Learning-rate multipliers by index or name (replacing earlier ones)."""
        self.lr_mult = self._symbol_mults("__lr_mult__")
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult: dict) -> None:
        """Weight-decay multipliers by index or name (replacing earlier ones); named
        indices not ending in ``_weight`` or ``_gamma`` default to 0 (biases, betas)."""
        self.wd_mult = {n: 0.0 for n in self.idx2name.values()
                        if not (n.endswith("_weight") or n.endswith("_gamma"))}
        self.wd_mult.update(self._symbol_mults("__wd_mult__"))
        self.wd_mult.update(args_wd_mult)

    def _symbol_mults(self, key: str) -> dict:
        """The multipliers a symbol's variables declare with attribute ``key``, by name."""
        if not self.sym_info:
            return {}
        attr, names = self.sym_info
        return {n: float(attr[n][key]) for n in names if n in attr and key in attr[n]}

    def _set_current_context(self, device_id: int) -> None:
        self._index_update_count = self._all_index_update_counts.setdefault(device_id, {})

    def _update_count(self, index: Any) -> None:
        for idx in index if isinstance(index, (list, tuple)) else [index]:
            count = self._index_update_count.get(idx, self.begin_num_update) + 1
            self._index_update_count[idx] = count
            self.num_update = max(count, self.num_update)

    def _get_lrs(self, indices: list) -> list[float]:
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return [lr * self._mult(i, "lr_mult", self.lr_mult) for i in indices]

    def _get_lr(self, index: Any) -> float:
        return self._get_lrs([index])[0]

    def _get_wds(self, indices: list) -> list[float]:
        return [self.wd * self._mult(i, "wd_mult", self.wd_mult) for i in indices]

    def _get_wd(self, index: Any) -> float:
        return self._get_wds([index])[0]

    def _mult(self, index: Any, attr: str, table: dict) -> float:
        if index in self.param_dict:
            return getattr(self.param_dict[index], attr, 1.0)
        if index in table:
            return table[index]
        if index in self.idx2name:
            return table.get(self.idx2name[index], 1.0)
        return 1.0

    # --- state and update -------------------------------------------------------------------
    def create_state(self, index: Any, weight: NDArray) -> Any:
        """The auxiliary state (None, an NDArray or a tuple of them) ``update`` needs for
        this weight; created once per weight."""
        return None

    def create_state_multi_precision(self, index: Any, weight: NDArray) -> Any:
        """``create_state``, or, for a float16 weight with ``multi_precision``,
        ``(float32 master copy, state of the master copy)``."""
        if self.multi_precision and weight.dtype == np.float16:
            master = NDArray(weight._data.astype(np.float32))
            return (master, self.create_state(index, master))
        if weight.dtype == np.float16:
            _warn_float16(type(self).__name__)
        return self.create_state(index, weight)

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        """Update ``weight`` in place from ``grad`` and ``state`` (which it also updates)."""
        raise NotImplementedError(f"{type(self).__name__} does not define update()")

    def update_multi_precision(self, index: Any, weight: NDArray, grad: NDArray,
                               state: Any) -> None:
        """``update``, through the float32 master copy for a float16 weight with
        ``multi_precision``; the weight then receives the master copy rounded to float16.
        Lists of indices, weights, gradients and states update each in turn."""
        if self._each(self.update_multi_precision, index, weight, grad, state):
            return
        if self.multi_precision and weight.dtype == np.float16:
            check_pair(weight, grad)
            master, inner = state
            self.update(index, master, NDArray(grad._data.astype(np.float32)), inner)
            memory(weight)[...] = master._data.astype(np.float16)
        else:
            self.update(index, weight, grad, state)

    @staticmethod
    def _each(method: Any, index: Any, weight: Any, grad: Any, state: Any) -> bool:
        """MXNet's multi-tensor form, ``update([i, j], [wi, wj], [gi, gj], [si, sj])``:
        call ``method`` per weight and return True; False for one weight."""
        if not isinstance(index, (list, tuple)):
            return False
        if not len(index) == len(weight) == len(grad) == len(state):
            raise ValueError(f"optimizer update: {len(index)} indices, {len(weight)} weights, "
                             f"{len(grad)} gradients and {len(state)} states")
        for args in zip(index, weight, grad, state):
            method(*args)
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self.lr}, wd={self.wd})"


def _warn_float16(name: str) -> None:
    warnings.warn(f"Accumulating with float16 in optimizer can lead to poor accuracy or slow "
                  f"convergence. Consider using multi_precision=True option of the {name} "
                  f"optimizer", stacklevel=3)


def _options(klass: type) -> set[str] | None:
    """The keyword arguments klass's constructors accept along its class chain, or None if
    one takes **kwargs it does not pass up (then any name may be valid)."""
    names: set[str] = set()
    for cls in klass.__mro__:
        if "__init__" not in vars(cls):
            continue
        params = inspect.signature(vars(cls)["__init__"]).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names - {"self"}
    return None


register = Optimizer.register
create = Optimizer.create_optimizer
