"""Parameter, Constant and ParameterDict as MXNet 1.9.1 has them: named arrays a block owns
(weights, or an imported graph's constants), initialized, shared, loaded and saved.

A shape may hold 0 for a dimension not known yet: with ``allow_deferred_init=True``,
``initialize()`` only notes the initializer, and the block's first call infers the shape
from its inputs and draws the value then (MXNet's deferred initialization)."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import initializer
from ..base import DEFAULT_DTYPE, MXNetError, normalize_dtype
from ..context import Context, current_context, data_context
from ..ndarray import NDArray, load, save
from ..util import is_np_shape

_STYPES = ("default", "row_sparse", "csr")

# bumped whenever some parameter's array is replaced by one of another type (cast,
# initialization): a compiled graph checks its parameters' types again only when it moved
_version = [0]



def load_named(fname: str) -> dict:
    """The arrays of a ``.params`` file by name; a file of unnamed arrays cannot be matched
    to parameters (an empty one is an empty dict)."""
    loaded = load(fname)
    if isinstance(loaded, list):
        if loaded:
            raise ValueError(f"{fname}: the arrays have no names, so they cannot be matched "
                             f"to parameters")
        return {}
    return loaded

class DeferredInitializationError(MXNetError):
    """A parameter read before the first call has inferred its shape."""


class ParameterError(MXNetError, AssertionError, ValueError):
    """MXNet asserts (AssertionError) where minigluon's earlier API raised ValueError:
    either catches it."""


class _NotInitialized(MXNetError, RuntimeError):
    """MXNet raises RuntimeError for a parameter read before initialize()."""


def _check_ctx(ctx: Any, who: str) -> list | None:
    """ctx (a Context, or a list of them: one copy of the value each) as a list (None: not
    given).  A GPU is refused: minigluon computes on the CPU only."""
    if ctx is None:
        return None
    ctxs = list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]
    if not ctxs:
        raise ValueError(f"{who}: ctx is an empty list; give at least one context")
    out = []
    for c in ctxs:
        if not isinstance(c, Context) and not isinstance(c, str):
            raise ValueError(f"{who}: ctx must be a Context or a list of Contexts, got "
                             f"{type(c).__name__} {c!r}")
        try:
            out.append(data_context(c))
        except MXNetError as e:
            raise MXNetError(f"{who}: {e}") from None
    return out


def _shape_known(shape) -> bool:
    return shape is not None and all(d > 0 for d in shape)


class Parameter:
    """``Parameter(name, grad_req='write', shape=None, dtype='float32', lr_mult=1.0,
    wd_mult=1.0, init=None, allow_deferred_init=False, differentiable=True,
    stype='default', grad_stype='default')``: a named array with a gradient buffer.

    ``shape`` may be None or hold 0s (unknown dimensions) until initialization or load
    fills them in.  ``lr_mult``/``wd_mult`` scale the Trainer's learning rate and weight
    decay for it.  Only dense storage exists: stype and grad_stype must be one of MXNet's
    names ('default', 'row_sparse', 'csr'), and a sparse one is refused at initialization.
    """

    def __init__(self, name: str, grad_req: str = "write", shape: Any = None,
                 dtype: Any = np.float32, lr_mult: float = 1.0, wd_mult: float = 1.0,
                 init: Any = None, allow_deferred_init: bool = False,
                 differentiable: bool = True, stype: str = "default",
                 grad_stype: str = "default"):
        self._data: NDArray | None = None
        # one copy of the value per context: _data is the first, kept for the hot paths
        self._data_list: list[NDArray] | None = None
        self._ctx_list: list | None = None
        self._ctx_map: dict = {}
        self._trainer: Any = None
        self._deferred_init: tuple | None = None  # (init, ctx, default_init, data) until shaped
        self._differentiable = differentiable
        self._allow_deferred_init = allow_deferred_init
        self._grad_req: str | None = None
        if isinstance(shape, int):
            shape = (shape,)
        self._shape = None if shape is None else tuple(int(d) for d in shape)
        self.name = name
        self._dtype = normalize_dtype(dtype)
        self._dtype_given = dtype
        self.lr_mult = lr_mult
        self.wd_mult = wd_mult
        self.grad_req = grad_req
        self.init = init
        assert grad_stype in _STYPES, (f"grad_stype for Parameter '{name}' must be one of "
                                       f"'default', 'row_sparse', or 'csr', but got "
                                       f"'{grad_stype}'")
        assert stype in _STYPES, (f"stype for Parameter '{name}' must be one of 'default', "
                                  f"'row_sparse', or 'csr', but got '{stype}'")
        self._stype, self._grad_stype = stype, grad_stype

    def __repr__(self) -> str:
        return f"Parameter {self.name} (shape={self.shape}, dtype={self._dtype_text()})"

    def _dtype_text(self) -> str:
        """The dtype as MXNet prints it: as given when a string, else numpy's class."""
        given = self._dtype_given
        return given if isinstance(given, str) and np.dtype(given) == np.dtype(self._dtype) \
            else repr(np.dtype(self._dtype).type)

    # --- attributes ----------------------------------------------------------------------
    @property
    def grad_req(self) -> str:
        return self._grad_req

    @grad_req.setter
    def grad_req(self, req: str) -> None:
        assert req in ("write", "add", "null"), \
            f"grad_req must be one of 'write', 'add', or 'null', but got '{req}'"
        if not self._differentiable:
            req = "null"
        if self._grad_req == req:
            return
        self._grad_req = req
        if self._data is not None:
            self._attach()

    @property
    def dtype(self) -> np.dtype:
        """A numpy dtype: it compares equal to the name ('float16'), the numpy class
        (np.float16) and the dtype alike, as MXNet's (which holds whatever was given) does
        with the form it was given."""
        return np.dtype(self._dtype)

    @dtype.setter
    def dtype(self, dtype: Any) -> None:
        self.cast(dtype)

    @property
    def shape(self) -> tuple | None:
        """None or a tuple whose 0s are dimensions not known yet (-1s with NumPy shape
        semantics on, as MXNet reports them: ``mg.util.np_shape``)."""
        if self._shape is not None and is_np_shape():
            return tuple(-1 if d == 0 else d for d in self._shape)
        return self._shape

    @shape.setter
    def shape(self, new_shape: Any) -> None:
        new_shape = None if new_shape is None else tuple(int(d) for d in new_shape)
        if self._shape is None:
            self._shape = new_shape
            return
        if new_shape is None or len(self._shape) != len(new_shape) or not all(
                j in (-1, 0, i) for i, j in zip(new_shape, self._shape)):
            raise ParameterError(f"Parameter '{self.name}': expected shape {new_shape} is "
                                 f"incompatible with given shape {self._shape}.")
        self._shape = new_shape

    @property
    def stype(self) -> str:
        return self._stype

    @property
    def grad_stype(self) -> str:
        return self._grad_stype

    def _attach(self) -> None:
        for arr in self._data_list:
            if self._grad_req == "null":
                arr._ag, arr._grad = None, None
            else:
                arr.attach_grad(self._grad_req)

    def _set_trainer(self, trainer: Any) -> None:
        """Note the Trainer updating this parameter (None: none): a new value set while
        that Trainer keeps a copy on its kvstore resets the kvstore."""
        if self._stype != "default" and self._trainer is not None and trainer is not None \
                and self._trainer is not trainer:
            raise RuntimeError(f"Failed to set the trainer for Parameter '{self.name}' because "
                               f"it was already set. More than one trainers for a "
                               f"{self._stype} Parameter is not supported.")
        self._trainer = trainer

    def _reset_trainer_kvstore(self) -> None:
        t = self._trainer
        if t is not None and t._kv_initialized and t._update_on_kvstore and \
                self not in t._params_to_init:
            t._reset_kvstore()

    # --- initialization ------------------------------------------------------------------
    def initialize(self, init: Any = None, ctx: Any = None,
                   default_init: Any = initializer.Uniform(), force_reinit: bool = False) -> None:
        """Draw the first value: ``init``, else this parameter's own ``init``, else
        ``default_init`` (``mg.init.Uniform()``), MXNet's order.  ``ctx``: a Context or a
        list of them (default: the current one); each gets its own copy of the value and
        of the gradient.  Already initialized: a warning, unless force_reinit.  A shape
        with unknown dimensions is an error unless allow_deferred_init, which waits for
        the block's first call."""
        ctxs = _check_ctx(ctx, f"Parameter '{self.name}'") or [current_context()]
        if default_init is None:
            default_init = initializer.Uniform()
        if self._data is not None and not force_reinit:
            warnings.warn(f"Parameter '{self.name}' is already initialized, ignoring. Set "
                          f"force_reinit=True to re-initialize.", stacklevel=2)
            return
        if self._stype != "default" or self._grad_stype != "default":
            raise MXNetError(f"Parameter '{self.name}': stype {self._stype!r} / grad_stype "
                             f"{self._grad_stype!r}: minigluon has dense storage only")
        if init is None:
            init = default_init if self.init is None else self.init
        if not _shape_known(self._shape):
            if self._allow_deferred_init:
                self._deferred_init = (init, ctxs, default_init, None)
                return
            raise ValueError(f"Cannot initialize Parameter '{self.name}' because it has "
                             f"invalid shape: {self._shape}.")
        self._deferred_init = (init, ctxs, default_init, None)
        self._finish_deferred_init()

    def _finish_deferred_init(self) -> None:
        """Draw (or take the set_data value of) a parameter whose shape is now known."""
        if self._deferred_init is None:
            return
        init, ctxs, _, data = self._deferred_init
        assert _shape_known(self._shape), (
            f"Cannot initialize Parameter '{self.name}' because it has invalid shape: "
            f"{self._shape}. Please specify in_units, in_channels, etc for `Block`s.")
        self._deferred_init = None
        if data is None:
            value = initializer.create(init)(self.name, self._shape, self._dtype)
        else:
            value = data._data if isinstance(data, NDArray) else np.asarray(data)
        self._init_impl(value, ctxs)

    def _init_impl(self, value: np.ndarray, ctxs: list | None = None) -> None:
        """One copy of value per context (None: the contexts held now); arrays of the same
        contexts, shape and dtype are written in place, so compiled graphs keep them."""
        value = np.array(value, dtype=self._dtype)  # a copy: never the caller's array
        ctxs = list(ctxs or self._ctx_list or [current_context()])
        if self._data_list is not None and ctxs == self._ctx_list and \
                self._data._data.shape == value.shape and self._data._data.dtype == value.dtype:
            for arr in self._data_list:
                arr._data[...] = value
            return
        self._data_list = [NDArray(value if i == 0 else value.copy()).as_in_context(c)
                           for i, c in enumerate(ctxs)]
        # the arrays' own context objects: a call's input on cpu(0) has the same one, so
        # the hot path's test is an identity
        self._ctx_list = [d.context for d in self._data_list]
        # a context listed twice maps to its last copy, as in MXNet
        self._ctx_map = {c: i for i, c in enumerate(self._ctx_list)}
        self._data = self._data_list[0]
        self._attach()
        _version[0] += 1

    def _infer_shape(self, shape: tuple) -> None:
        """Fill the unknown dimensions (shape inference at the first call)."""
        self.shape = shape

    # --- values --------------------------------------------------------------------------
    def _check_and_get(self, what: str = "data") -> list[NDArray]:
        """The copies (one per context), or the error of a parameter without a value."""
        if self._data_list is not None:
            return self._data_list
        if self._deferred_init is not None:
            raise DeferredInitializationError(
                f"Parameter '{self.name}' has not been initialized yet because "
                f"initialization was deferred. Actual initialization happens during the "
                f"first forward pass. Please pass one batch of data through the network "
                f"before accessing Parameters. You can also avoid deferred initialization by "
                f"specifying in_units, num_features, etc., for network layers.")
        raise _NotInitialized(
            f"Parameter '{self.name}' has not been initialized. Note that you should "
            f"initialize parameters and create Trainer with Block.collect_params() instead "
            f"of Block.params because the later does not include Parameters of nested child "
            f"Blocks")

    def _pick(self, arrays: list[NDArray], ctx: Any) -> NDArray:
        """The copy on ctx; ctx None: the only copy, else the current context's."""
        if ctx is None:
            if len(arrays) == 1:
                return arrays[0]
            ctx = current_context()
        elif not isinstance(ctx, Context):
            ctx = _check_ctx(ctx, f"Parameter '{self.name}'")[0]
        i = self._ctx_map.get(ctx)
        if i is None:
            raise _NotInitialized(
                f"Parameter '{self.name}' was not initialized on context {ctx}. It was only "
                f"initialized on {self._ctx_list}.")
        return arrays[i]

    def _data_on(self, ctx: Context) -> NDArray:
        """The copy a call with inputs on ctx reads (the hot path of a block's call)."""
        arrays = self._data_list
        if arrays is not None and len(arrays) == 1 and (self._ctx_list[0] is ctx or
                                                        self._ctx_list[0] == ctx):
            return arrays[0]
        return self._pick(self._check_and_get(), ctx)

    def data(self, ctx: Any = None) -> NDArray:
        """The copy on ``ctx`` (None: the only copy, or the current context's when there
        are several); RuntimeError when the parameter has none there."""
        return self._pick(self._check_and_get(), ctx)

    def list_data(self) -> list[NDArray]:
        """The copies, one per context of :meth:`list_ctx`, in that order."""
        return list(self._check_and_get())

    def row_sparse_data(self, row_id: Any) -> NDArray:
        """MXNet's accessor for row_sparse parameters: there are none (dense storage)."""
        raise RuntimeError(f"Cannot return a copy of Parameter '{self.name}' via "
                           f"row_sparse_data() because its storage type is {self._stype}. "
                           f"Please use data() instead.")

    def list_row_sparse_data(self, row_id: Any) -> list[NDArray]:
        raise RuntimeError(f"Cannot return copies of Parameter '{self.name}' on all contexts "
                           f"via list_row_sparse_data() because its storage type is "
                           f"{self._stype}. Please use data() instead.")

    def _no_grad(self) -> RuntimeError:
        return RuntimeError(f"Cannot get gradient array for Parameter '{self.name}' because "
                            f"grad_req='null'")

    def grad(self, ctx: Any = None) -> NDArray:
        """The gradient of the copy on ``ctx`` (as :meth:`data` picks it)."""
        data = self.data(ctx)
        if data.grad is None:
            raise self._no_grad()
        return data.grad

    @property
    def _grad(self) -> list[NDArray] | None:
        """MXNet's internal: the gradient arrays (one per context), or None while
        uninitialized or with grad_req 'null'."""
        if self._data_list is None or self._data.grad is None:
            return None
        return [d.grad for d in self._data_list]

    def list_grad(self) -> list[NDArray]:
        """The gradients, one per context of :meth:`list_ctx`."""
        arrays = self._check_and_get()
        if arrays[0].grad is None:
            raise self._no_grad()
        return [d.grad for d in arrays]

    def list_ctx(self) -> list:
        """The contexts holding a copy (those of a deferred initialization before it)."""
        if self._data_list is None:
            if self._deferred_init is not None:
                return list(self._deferred_init[1])
            raise _NotInitialized(f"Parameter '{self.name}' has not been initialized")
        return list(self._ctx_list)

    def reset_ctx(self, ctx: Any) -> None:
        """Move to ``ctx`` (a Context or a list; None: the current one): the copies are
        replaced by copies of their mean on the new contexts."""
        ctxs = _check_ctx(ctx, f"Parameter '{self.name}'") or [current_context()]
        if self._data_list is not None:
            self._init_impl(self._reduce()._data, ctxs)
        elif self._deferred_init is not None:
            init, _, default_init, data = self._deferred_init
            self._deferred_init = (init, ctxs, default_init, data)
        else:
            raise ValueError(f"Cannot reset context for Parameter '{self.name}' because it "
                             f"has not been initialized.")

    def zero_grad(self) -> None:
        """Set the gradient of every copy to 0."""
        for arr in self._data_list or ():
            if arr.grad is not None:
                arr.grad._data[...] = 0

    def set_data(self, data: Any) -> None:
        """Replace the value of every copy (cast to this parameter's dtype; the shape must
        agree).  Before a deferred initialization it becomes the value that initialization
        takes; on a parameter never initialized it initializes it (MXNet asserts instead)."""
        arr = data._data if isinstance(data, NDArray) else np.asarray(data)
        self.shape = arr.shape
        if self._data is None:
            if self._deferred_init is not None and not _shape_known(self._shape):
                self._deferred_init = self._deferred_init[:3] + (np.array(arr),)
                return
            ctxs = self._deferred_init[1] if self._deferred_init is not None else None
            self._deferred_init = None
            self._init_impl(arr, ctxs)
            return
        self._reset_trainer_kvstore()
        for copy in self._data_list:
            copy._data[...] = arr

    def var(self):
        """A symbol variable of this parameter (its name, shape and dtype)."""
        from .. import symbol as sym
        shape = self._shape if _shape_known(self._shape) else None
        return sym.var(self.name, shape=shape, dtype=self._dtype)

    def cast(self, dtype: Any) -> None:
        """Change the dtype, converting every copy and dropping the gradients' contents."""
        self._dtype = normalize_dtype(dtype)
        self._dtype_given = dtype
        if self._data_list is None:
            return
        self._data_list = [NDArray(d._data.astype(self._dtype)).as_in_context(d.context)
                           for d in self._data_list]
        self._data = self._data_list[0]
        self._attach()
        _version[0] += 1

    def _reduce(self) -> NDArray:
        """The value to save, on cpu(0): a copy of the one copy, or the mean of several."""
        arrays = self.list_data()
        if len(arrays) == 1:
            return NDArray(arrays[0]._data.copy())
        total = np.sum([a._data for a in arrays], axis=0, dtype=self._dtype)
        return NDArray((total / len(arrays)).astype(self._dtype))

    def _load_init(self, data: NDArray, ctx: Any = None, cast_dtype: bool = False,
                   dtype_source: str = "current", source: str = "file") -> None:
        """(Re)initialize from a loaded array: its shape fills unknown dimensions; its dtype
        must equal this parameter's unless cast_dtype (then ``dtype_source`` says which
        wins: 'current' casts the array, 'saved' casts the parameter)."""
        ctxs = _check_ctx(ctx, f"Parameter '{self.name}'")
        if cast_dtype:
            assert dtype_source in ("current", "saved"), \
                f"dtype_source must be 'current' or 'saved', got {dtype_source!r}"
        arr = data._data if isinstance(data, NDArray) else np.asarray(data)
        # a parameter of an imported graph with no declared shape takes the file's dtype too
        untyped = self._data is None and self._shape is None
        if self._shape:
            for mine, theirs in zip(self._shape, arr.shape):
                assert mine in (0, theirs) and len(self._shape) == arr.ndim, (
                    f"Failed loading Parameter '{self.name}' from saved params: shape "
                    f"incompatible expected {self._shape} vs saved {tuple(arr.shape)}")
            self._shape = tuple(arr.shape)
        elif self._data is None:
            self._shape = tuple(arr.shape)
        if untyped:
            self._dtype = normalize_dtype(arr.dtype)
        if np.dtype(self._dtype) != arr.dtype:
            if not cast_dtype:
                raise ParameterError(
                    f"Failed loading Parameter '{self.name}' from saved params: dtype "
                    f"incompatible expected {np.dtype(self._dtype)} vs saved {arr.dtype}. Set "
                    f"cast_dtype=True to cast the dtype of saved params.")
            if dtype_source == "saved":
                self.cast(arr.dtype)
        if self._data_list is not None:
            if ctxs is not None and set(ctxs) != set(self._ctx_list):
                raise ParameterError(
                    f"Failed to load Parameter '{self.name}' on {ctxs} because it was "
                    f"previous initialized on {self._ctx_list}.")
            ctxs = self._ctx_list
            self._reset_trainer_kvstore()
        elif self._deferred_init is not None:
            if ctxs is not None and set(ctxs) != set(self._deferred_init[1]):
                raise ParameterError(
                    f"Failed to load Parameter '{self.name}' on {ctxs} because it was "
                    f"previous initialized on {self._deferred_init[1]}.")
            ctxs = self._deferred_init[1]
        self._deferred_init = None
        self._init_impl(arr, ctxs)


class Constant(Parameter):
    """``Constant(name, value)``: a parameter that is never trained (grad_req 'null'),
    initialized to value."""

    def __init__(self, name: str, value: Any):
        if not isinstance(value, NDArray):
            # as nd.array: anything but an NDArray (a list, any numpy array) becomes float32
            value = NDArray(np.array(value, dtype=DEFAULT_DTYPE))
        self.value = value
        super().__init__(name, grad_req="null", shape=value.shape, dtype=value.dtype,
                         init=initializer.Constant(value.asnumpy()))

    def __repr__(self) -> str:
        return f"Constant {self.name} (shape={self.shape}, dtype={self._dtype_text()})"

    @property
    def grad_req(self) -> str:
        return "null"

    @grad_req.setter
    def grad_req(self, req: str) -> None:
        if req != "null":
            warnings.warn(f'Constant parameter "{self.name}" does not support grad_req other '
                          f'than "null", and new value "{req}" is ignored.', stacklevel=2)
        self._grad_req = "null"


class ParameterDict(dict):
    """``ParameterDict(prefix='', shared=None)``: parameters by full name.

    ``get(name, **kwargs)`` returns ``prefix + name``: this dict's, else ``shared``'s
    (how ``Block(params=other.collect_params())`` shares), else a new Parameter made with
    kwargs.  A block's own ``params`` also hands what ``get`` returns to ``hybrid_forward``
    as keyword ``name``."""

    def __init__(self, prefix: str = "", shared: ParameterDict | None = None):
        if not isinstance(prefix, str):  # ParameterDict(items) of minigluon's earlier API
            raise TypeError(f"ParameterDict(prefix='', shared=None): prefix must be a str, got "
                            f"{type(prefix).__name__}")
        super().__init__()
        self._prefix, self._shared, self._owner = prefix, shared, None

    def __repr__(self) -> str:
        name = self._prefix + " " if self._prefix else ""
        content = "\n".join(f"  {v}" for v in self.values())
        return f"{name}(\n{content}\n)"

    @property
    def prefix(self) -> str:
        return self._prefix

    def _get_impl(self, name: str) -> Parameter | None:
        if name in self:
            return self[name]
        if self._shared is not None and name in self._shared:
            dict.__setitem__(self, name, self._shared[name])
            return self[name]
        return None

    def _register(self, name: str, p: Parameter) -> None:
        owner = self._owner
        if owner is not None and name not in owner._reg_params and \
                all(q is not p for q in owner._reg_params.values()):
            owner._reg_params[name] = p
            owner._declared.add(name)
            owner._clear_cached_op()

    def get(self, name: str, **kwargs) -> Parameter:
        """The parameter ``prefix + name``, created with kwargs (shape, init, ...) if new.
        An existing one must agree with kwargs (a 0 in a shape matches any size)."""
        full = self._prefix + name
        p = self._get_impl(full)
        if p is None:
            p = Parameter(full, **kwargs)
            dict.__setitem__(self, full, p)
        else:
            for k, v in kwargs.items():
                existing = getattr(p, k, None)
                if existing is None:
                    setattr(p, k, v)
                    continue
                if k == "shape" and v is not None:
                    v = (v,) if isinstance(v, int) else tuple(v)
                    if len(v) == len(existing) and all(
                            a == b or a <= 0 or b <= 0 for a, b in zip(v, existing)):
                        p._shape = tuple(b if a <= 0 else a for a, b in zip(v, existing))
                        continue
                elif k == "dtype" and np.dtype(normalize_dtype(v)) == np.dtype(existing):
                    continue
                if not (v is None or v == existing):
                    raise ParameterError(
                        f"Cannot retrieve Parameter '{full}' because desired attribute does "
                        f"not match with stored for attribute '{k}': desired '{v}' vs stored "
                        f"'{existing}'.")
        self._register(name, p)
        return p

    def get_constant(self, name: str, value: Any = None) -> Constant:
        """The constant ``prefix + name``, created with value if new (a KeyError without)."""
        full = self._prefix + name
        p = self._get_impl(full)
        if p is None:
            if value is None:
                raise KeyError(f"No constant named '{full}'. Please specify value if you want "
                               f"to create a new constant.")
            p = Constant(full, value)
            dict.__setitem__(self, full, p)
        elif value is not None:
            assert isinstance(p, Constant), \
                f"Parameter '{full}' already exists but it is not a constant."
            arr = value.asnumpy() if isinstance(value, NDArray) else np.asarray(value)
            assert p.shape == arr.shape and (p.value.asnumpy() == arr).all(), \
                f"Constant '{full}' already exists but it's value doesn't match new value"
        self._register(name, p)
        return p

    def __setitem__(self, key: str, value: Parameter) -> None:
        dict.__setitem__(self, key, value)

    def update(self, other: Any = (), **kw) -> None:
        """Add other's parameters; the same name must be the same Parameter."""
        items = dict(other, **kw)
        for k, v in items.items():
            if k in self:
                assert self[k] is v, (f"Cannot update self with other because they have "
                                      f"different Parameters with the same name '{k}'")
        for k, v in items.items():
            dict.__setitem__(self, k, v)

    def initialize(self, init: Any = initializer.Uniform(), ctx: Any = None,
                   verbose: bool = False, force_reinit: bool = False) -> None:
        """Initialize each parameter: its own ``init`` first, else ``init``."""
        for p in self.values():
            p.initialize(None, ctx, init, force_reinit=force_reinit)

    def zero_grad(self) -> None:
        for p in self.values():
            p.zero_grad()

    def reset_ctx(self, ctx: Any) -> None:
        for p in self.values():
            p.reset_ctx(ctx)

    def list_ctx(self) -> list:
        ctxs: list = []
        for p in self.values():
            for c in p.list_ctx():
                if c not in ctxs:
                    ctxs.append(c)
        return ctxs

    def setattr(self, name: str, value: Any) -> None:
        """Set an attribute (``grad_req``, ``lr_mult``, ...) on every parameter."""
        for p in self.values():
            setattr(p, name, value)

    def save(self, fname: str, strip_prefix: str = "") -> None:
        out = {}
        for p in self.values():
            if not p.name.startswith(strip_prefix):
                raise ValueError(
                    f"Prefix '{strip_prefix}' is to be striped before saving, but Parameter's "
                    f"name '{p.name}' does not start with '{strip_prefix}'. this may be due to "
                    f"your Block shares parameters from other Blocks or you forgot to use "
                    f"'with name_scope()' when creating child blocks.")
            out[p.name[len(strip_prefix):]] = p._reduce()
        save(fname, out)

    def load(self, fname: str, ctx: Any = None, allow_missing: bool = False,
             ignore_extra: bool = False, restore_prefix: str = "", cast_dtype: bool = False,
             dtype_source: str = "current") -> None:
        """Load a ``.params`` file (names with or without MXNet's ``arg:``/``aux:``,
        ``restore_prefix`` put in front of them)."""
        if restore_prefix:
            for name in self:
                assert name.startswith(restore_prefix), (
                    f"restore_prefix is '{restore_prefix}' but Parameters name '{name}' does "
                    f"not start with '{restore_prefix}'.")
        loaded = load_named(fname)
        self.load_dict(loaded, ctx, allow_missing, ignore_extra, restore_prefix, fname,
                       cast_dtype, dtype_source)

    def load_dict(self, param_dict: dict, ctx: Any = None, allow_missing: bool = False,
                  ignore_extra: bool = False, restore_prefix: str = "",
                  filename: str | None = None, cast_dtype: bool = False,
                  dtype_source: str = "current") -> None:
        from .block import _brief
        where = f"file '{filename}'" if filename else "'param_dict'"
        lprefix = len(restore_prefix)
        arrays = {restore_prefix + (k.split(":", 1)[1] if k[:4] in ("arg:", "aux:") else k): v
                  for k, v in param_dict.items()}
        if not allow_missing:
            for name in self:
                if name not in arrays:
                    raise ParameterError(
                        f"Parameter '{name[lprefix:]}' is missing in {where}, which contains "
                        f"parameters: {_brief(arrays)}. Please make sure source and target "
                        f"networks have the same prefix. Set allow_missing=True to ignore "
                        f"missing parameters.")
        for name, arr in arrays.items():
            if name not in self:
                if not ignore_extra:
                    raise ParameterError(
                        f"Parameter '{name[lprefix:]}' loaded from {where} is not present in "
                        f"ParameterDict, choices are: {_brief(self)}. Set ignore_extra to "
                        f"True to ignore. Please make sure source and target networks have "
                        f"the same prefix.")
                continue
            self[name]._load_init(arr, ctx, cast_dtype=cast_dtype, dtype_source=dtype_source,
                                  source=where)
