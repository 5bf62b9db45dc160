"""NDArray: an eager array backed by numpy; every op runs its registry kernel at once."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..base import DEFAULT_DTYPE, MXNetError, normalize_dtype
from ..context import Context, cpu, data_context
from ..ops.frontend import (
    OperatorMixin,
    in_hybrid_forward,
    make_creators,
    op_error,
    populate,
    track,
)
from ..ops.indexing import assigned
from ..ops.registry import Op, get_op


class NDArray(OperatorMixin):
    """An n-dimensional array; ``F = nd`` in ``hybrid_forward`` operates on these."""

    __slots__ = ("__weakref__", "_ag", "_ctx", "_data", "_grad", "_grad_req", "_origin")

    def __init__(self, data: np.ndarray):
        self._data = data
        self._origin = None  # set by frontend.track(): the block argument this derives from
        self._ag = None  # autograd: "leaf" after attach_grad(), (tape node, output) if recorded

    # --- autograd ------------------------------------------------------------------------
    def attach_grad(self, grad_req: str = "write", stype=None) -> None:
        """Make this array a variable: backward() writes (or adds) d head / d self to .grad."""
        if grad_req not in ("write", "add", "null"):
            raise ValueError(f"grad_req must be 'write', 'add' or 'null', got {grad_req!r}")
        self._grad_req = grad_req
        self._grad = _on(NDArray(np.zeros_like(self._data)), self.context)  # beside the data
        self._ag = "leaf" if grad_req != "null" else None

    @property
    def grad(self):
        return getattr(self, "_grad", None)

    def _write_grad(self, g: NDArray, fresh: bool = False) -> None:
        data = np.asarray(g._data, dtype=self._data.dtype)
        if data.shape != self._data.shape:
            data = data.reshape(self._data.shape)
        if self._grad_req == "add":
            self._grad._data += data
        elif fresh and data.flags.c_contiguous and data.base is None:
            self._grad._data = data  # an array only backward holds: take it, skip a copy
        else:
            self._grad._data[...] = data

    def backward(self, out_grad=None, retain_graph: bool = False, train_mode: bool = True):
        """d sum(self * out_grad) / d x into x.grad for every variable x (out_grad: ones)."""
        from ..autograd import backward  # autograd is a layer above (it builds on NDArray)
        backward([self], [out_grad], retain_graph=retain_graph)

    def detach(self) -> NDArray:
        """The same values, outside autograd: no gradient flows back through it."""
        return NDArray(self._data)

    # --- what the op layer needs -------------------------------------------------
    def ident(self):
        return id(self)

    def _view(self, op_name: str, inputs: list, attrs: dict) -> NDArray:
        op = get_op(op_name)
        return invoke(op, inputs, op.parse_attrs(attrs), None, views=True)

    # --- array protocol --------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def context(self) -> Context:
        """The device the data is on: cpu(0) unless created or copied with another cpu id."""
        return getattr(self, "_ctx", None) or _CPU0  # an unset slot: the common cpu(0)

    ctx = context

    @property
    def stype(self) -> str:
        """The storage type: always 'default' (dense; minigluon has no sparse arrays)."""
        return "default"

    def __len__(self) -> int:
        return self._data.shape[0]

    def asnumpy(self) -> np.ndarray:
        """A numpy copy of the data."""
        return self._data.copy()

    def __array__(self, dtype=None, copy=None):
        return self._data if dtype is None else self._data.astype(dtype)

    def asscalar(self):
        if self._data.size != 1:
            raise ValueError(f"asscalar needs an array with one element, got shape {self.shape}")
        return self._data.reshape(()).item()

    def as_in_context(self, ctx: Context) -> NDArray:
        """self when it is on ctx already (as MXNet), else a copy on ctx."""
        ctx = data_context(ctx)
        return self if ctx == self.context else self.copyto(ctx)

    def copyto(self, other: Any) -> NDArray:
        """A copy on the context other (a new array), or written into the NDArray other
        (same shape; its dtype is kept) and returned."""
        if isinstance(other, NDArray):
            if other is self:
                raise ValueError("copyto: cannot copy an array to itself")
            if other.shape != self.shape:
                raise ValueError(f"copyto: shape {self.shape} cannot be copied into an array "
                                 f"of shape {other.shape}")
            if not other._data.flags.writeable:
                other._data = other._data.copy()
            other._data[...] = self._data
            return other
        return _on(NDArray(self._data.copy()), data_context(other))

    def wait_to_read(self) -> None:
        """Kept for MXNet compatibility: computation is synchronous here."""

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(f"the truth value of an NDArray with shape {self.shape} is ambiguous")
        return bool(self._data.reshape(()))

    def __float__(self) -> float:
        return float(self.asscalar())

    def __int__(self) -> int:
        return int(self.asscalar())

    # --- indexing and in-place updates ---------------------------------------------------
    def __getitem__(self, key) -> NDArray:
        """Basic indexing runs as graph ops (``slice`` + ``Reshape``), the same as on a
        Symbol, and is recorded for autograd.  Index arrays and masks work outside a
        hybrid_forward only (numpy's advanced indexing; not traceable)."""
        if _advanced(key) and not in_hybrid_forward():
            out = self._data[_numpy_key(key)]
            return NDArray(np.array(out, ndmin=1))
        return super().__getitem__(key)

    def __setitem__(self, key, value) -> None:
        """Outside a hybrid_forward: MXNet's in-place write into this array's memory.
        Inside one (and for arrays recorded by autograd): ``x`` becomes a new array,
        ``_slice_assign`` of its old value, exactly what the traced Symbol does."""
        if in_hybrid_forward() or self._recorded_update(value):
            self._become(assigned(self, key, value))
            return
        if not self._data.flags.writeable:  # a broadcast view: give this array its own memory
            self._data = self._data.copy()
        self._data[_numpy_key(key)] = value._data if isinstance(value, NDArray) else value

    def _recorded_update(self, other) -> bool:
        """Would an in-place update change arrays autograd is recording?"""
        from ..autograd import is_recording  # autograd is a layer above (it builds on NDArray)
        if not is_recording():
            return False
        if self._ag == "leaf":
            raise ValueError("cannot update an array with attach_grad() in place inside "
                             "autograd.record(): its gradient would refer to a value that no "
                             "longer exists; compute a new array instead (y = x + ...)")
        return self._ag is not None or getattr(other, "_ag", None) is not None

    def _become(self, new: NDArray) -> None:
        """Take new's value (and, if autograd recorded it, its tape entry: the tape kept
        the old value as it was)."""
        self._data, self._origin = new._data, new._origin
        if self._ag != "leaf":
            self._ag = new._ag

    def _inplace(self, key: str, other):
        new = self._binary(key, other)
        if new is NotImplemented or in_hybrid_forward():
            return new  # inside hybrid_forward: rebinding, as with a traced Symbol
        if new.dtype != self.dtype:
            new = new.astype(self.dtype)
        if tuple(new.shape) != tuple(self.shape):
            raise ValueError(f"in-place {key} would change the shape {tuple(self.shape)} to "
                             f"{tuple(new.shape)}")
        if self._recorded_update(other):
            self._become(new)
        else:  # MXNet: the result is written into this array's memory
            if not self._data.flags.writeable:
                self._data = self._data.copy()
            self._data[...] = new._data
        return self

    def __iadd__(self, o): return self._inplace("add", o)
    def __isub__(self, o): return self._inplace("sub", o)
    def __imul__(self, o): return self._inplace("mul", o)
    def __itruediv__(self, o): return self._inplace("div", o)
    def __imod__(self, o): return self._inplace("mod", o)
    def __ipow__(self, o): return self._inplace("power", o)

    def __repr__(self) -> str:
        dims = "x".join(str(d) for d in self.shape)
        return f"\n{self._data}\n<NDArray {dims} @{self.context}>"


# MXNet's storage type ids; only 'default' (dense) arrays exist here
_STORAGE_TYPE_STR_TO_ID = {"undefined": -1, "default": 0, "row_sparse": 1, "csr": 2}

_AUTOGRAD = None  # the minigluon.autograd module, once _load_autograd has run


def _load_autograd():
    """minigluon.autograd, imported on first use: it is a layer above this one (backward
    builds on NDArray), and every eager op asks it whether to record, so the module is
    kept in a global rather than imported on each call."""
    global _AUTOGRAD
    from .. import autograd
    _AUTOGRAD = autograd
    return autograd


def invoke(op: Op, inputs: list, attrs: dict, name: str | None,
           views: bool = False) -> NDArray | list:
    """Run one registry op eagerly on NDArrays: new arrays, or (``views=True``) views of
    the input's memory where numpy gives them."""
    if op.training is not None and (_AUTOGRAD or _load_autograd()).is_training():
        op = get_op(op.training(op.full_attrs(attrs)) or op.name)  # BatchNorm's batch statistics
    arrays = [x._data for x in inputs]
    try:
        op.infer(attrs, [a.shape for a in arrays], [a.dtype.name for a in arrays])
        with np.errstate(all="ignore"):  # inf/NaN are values here, as in MXNet, not warnings
            outs = op.run(attrs, arrays, views)
    except (MXNetError, ValueError, TypeError) as e:
        raise op_error(op, inputs, e) from e
    results = [NDArray(o) for o in outs[: op.n_visible(attrs)]]
    if inputs and getattr(inputs[0], "_ctx", None) is not None:  # stays on its cpu(k), as MXNet
        for r in results:
            r._ctx = inputs[0]._ctx
    track(inputs, results)
    autograd = _AUTOGRAD or _load_autograd()
    # BatchNorm's writes, off the path of every other op: a fixed gamma at once (before
    # the tape sees it), its moving statistics in this call's backward
    later = _write_updates(op, attrs, inputs) if op.update is not None else None
    if autograd.is_recording():
        # the tape keeps every output (CTCLoss's gradient output included) for backward
        autograd.record_op(op, attrs, inputs, results + [NDArray(o) for o in
                                                          outs[op.n_visible(attrs):]])
        if later and isinstance(results[0]._ag, tuple):
            results[0]._ag[0].after_backward.append(lambda: write_now(later))
    return results[0] if len(results) == 1 else results


def _write_updates(op: Op, attrs: dict, inputs: list) -> list:
    """Write the inputs op's ``update`` changes at once (a fixed gamma); return the writes
    that wait for the call's backward (auxiliary states), dropped when it has none."""
    writes = aux_writes(op, attrs, inputs)
    write_now(w for w in writes if not w[2])
    return [w for w in writes if w[2]]


def aux_writes(op: Op, attrs: dict, inputs: list) -> list[tuple]:
    """What op's ``update`` gives (BatchNorm's moving statistics, a fixed gamma's 1), as
    (input, new value, whether it waits for the op's backward) triples: an auxiliary state
    changes when the op's backward runs, as MXNet's CPU BatchNorm updates it (a forward no
    gradient passes through, or one outside record(), leaves it); other inputs at once."""
    from .. import ndarray as F
    full = op.full_attrs(attrs)
    names = op.input_names(full)
    with (_AUTOGRAD or _load_autograd()).pause():
        new = op.update(F, full, inputs)
    return [(inputs[names.index(name)], value, name in op.aux_inputs) for name, value in new]


def write_now(writes) -> None:
    """Write each new value into its input's memory (the update is not recorded)."""
    for target, value, _ in writes:
        if target._data.flags.writeable:
            np.copyto(target._data, value._data)
        else:  # a broadcast view: the array gets memory of its own, as __setitem__ does
            target._data = value._data.copy()


def is_tensor(x: Any) -> bool:
    return isinstance(x, NDArray)


def _advanced(key) -> bool:
    items = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, (NDArray, np.ndarray, list, bool, np.bool_)) for k in items)


def _numpy_key(key):
    if isinstance(key, tuple):
        return tuple(_numpy_key(k) for k in key)
    return key._data if isinstance(key, NDArray) else key


_CPU0 = cpu(0)


def _on(x: NDArray, ctx: Context) -> NDArray:
    """x placed on ctx (a CPU context: only its id is recorded)."""
    if ctx != _CPU0:
        x._ctx = ctx
    return x


def array(source: Any, ctx: Any = None, dtype: Any = None) -> NDArray:
    """Make an NDArray on ctx (default: the current context): float32 unless ``dtype`` is
    given or ``source`` is an NDArray (as MXNet, a float64 numpy array becomes float32)."""
    if ctx is not None and not isinstance(ctx, Context) and not str(ctx).startswith(("cpu", "gpu")):
        ctx, dtype = dtype, ctx  # array(x, "float64"): minigluon's earlier order, still read
    ctx = data_context(ctx)
    if isinstance(source, NDArray):
        dtype = dtype or source.dtype
        source = source._data
    dtype = dtype or DEFAULT_DTYPE
    data = np.array(source, dtype=normalize_dtype(dtype))
    return _on(NDArray(data.reshape(data.shape or (1,)) if data.ndim == 0 else data), ctx)


NDArray._backend = staticmethod(invoke)
NDArray._namespace = __package__
_creators = make_creators(invoke, place=_on)
zeros, ones, full, eye, empty, arange = (
    _creators[k] for k in ("zeros", "ones", "full", "eye", "empty", "arange"))


def waitall() -> None:
    """Kept for MXNet compatibility: computation is synchronous here."""


def reset_arrays(*data: NDArray, num_arrays: int) -> None:
    """Set every array to zero in place (MXNet's multi-array gradient reset).  ``num_arrays``
    must equal the number of arrays given, as MXNet's op requires."""
    if num_arrays != len(data):
        raise ValueError(f"reset_arrays: num_arrays={num_arrays} but {len(data)} arrays given")
    for i, a in enumerate(data):
        if not isinstance(a, NDArray):
            raise TypeError(f"reset_arrays: data[{i}] is {type(a).__name__}, not an NDArray")
    for a in data:
        a._data[...] = 0


_public_ops, _internal = populate(invoke, is_tensor)
