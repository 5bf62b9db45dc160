"""MXNet 1.9.1's basic layers: Sequential, HybridSequential, Dense, Embedding, Dropout,
Flatten, Lambda and HybridLambda, each a few lines over registry ops."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from ... import ndarray as nd
from ... import symbol as sym
from ..block import Block, HybridBlock
from .activations import Activation


def _indent(text: str, spaces: int) -> str:
    """text with every line but the first indented (a child's repr inside its parent's)."""
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * spaces + line for line in rest])


def _children_repr(block: Block) -> str:
    body = "\n".join(f"  ({key}): {_indent(repr(child), 2)}"
                     for key, child in block._children.items())
    return f"{type(block).__name__}(\n{body}\n)"


def _register_child(parent: Block, block: Any) -> None:
    """parent.register_child(block), named by its position as MXNet's; a HybridBlock takes
    only HybridBlock children (MXNet's ValueError).  The fallback serves until
    ``Block.register_child`` lands with the block API."""
    if hasattr(parent, "register_child"):
        parent.register_child(block)
        return
    if not isinstance(block, Block):
        raise ValueError(f"{type(parent).__name__}.add takes Blocks, got {type(block).__name__}")
    if isinstance(parent, HybridBlock) and not isinstance(block, HybridBlock):
        raise ValueError(f"Children of HybridBlock must also be HybridBlock, but {block} has "
                         f"type {type(block)}. If you are using Sequential, please try "
                         f"HybridSequential instead.")
    parent._children[str(len(parent._children))] = block
    parent._clear_cached_op()


class _Stack:
    """What Sequential and HybridSequential share: add, indexing, len and repr."""

    _children: dict

    def add(self, *blocks: Block) -> None:
        """Append blocks to the stack, in order."""
        for block in blocks:
            _register_child(self, block)

    def __getitem__(self, key: int | slice) -> Any:
        """The child at position key; a slice is a new stack (same prefix) of those children."""
        layers = list(self._children.values())[key]
        if not isinstance(layers, list):
            return layers
        net = type(self)(prefix=self._prefix)
        with net.name_scope():
            net.add(*layers)
        return net

    def __len__(self) -> int:
        return len(self._children)

    def _layers(self) -> tuple:
        # not read through the traced block's attribute guards: add() clears the cached
        # graphs itself, and a dict would be guarded by identity with a warning
        return tuple(object.__getattribute__(self, "_children").values())

    def __repr__(self) -> str:
        return _children_repr(self)


class Sequential(_Stack, Block):
    """Blocks applied one after the other: ``net.add(Dense(10), Dense(2)); net(x)``."""

    def __init__(self, prefix: str | None = None, params: Any = None):
        super().__init__(prefix=prefix, params=params)

    def forward(self, x):
        for block in self._children.values():
            x = block(x)
        return x

    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        """Hybridize every child that can be (a Sequential itself runs eagerly)."""
        if self._children and all(isinstance(c, HybridBlock) for c in self._children.values()):
            warnings.warn(f"All children of this Sequential layer '{self.prefix}' are "
                          f"HybridBlocks. Consider using HybridSequential for the best "
                          f"performance.", stacklevel=2)
        parent = getattr(super(), "hybridize", None)
        if parent is not None:
            parent(active, **kwargs)
            return
        for child in self._children.values():
            if hasattr(child, "hybridize"):
                child.hybridize(active, **kwargs)


class HybridSequential(_Stack, HybridBlock):
    """HybridBlocks applied one after the other; hybridized, the stack is one graph."""

    def __init__(self, prefix: str | None = None, params: Any = None):
        super().__init__(prefix=prefix, params=params)

    def hybrid_forward(self, F, x):
        for block in self._layers():
            x = block(x)
        return x


class Dense(HybridBlock):
    """``activation(FullyConnected(x, weight, bias))``, weight (units, in_units).

    flatten=True: x (batch, x1, ..., xn) is read as (batch, x1 * ... * xn), the output
    is (batch, units); flatten=False: the last axis is in_units, the output is
    x.shape[:-1] + (units,).  ``in_units=0`` leaves the weight's shape to the first call
    (deferred initialization)."""

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 flatten: bool = True, dtype: Any = "float32", weight_initializer: Any = None,
                 bias_initializer: Any = "zeros", in_units: int = 0, prefix: str | None = None,
                 params: Any = None):
        super().__init__(prefix=prefix, params=params)
        self._flatten = flatten
        with self.name_scope():
            self._units = units
            self._in_units = in_units
            self.weight = self.params.get("weight", shape=(units, in_units),
                                          init=weight_initializer, dtype=dtype,
                                          allow_deferred_init=True)
            if use_bias:
                self.bias = self.params.get("bias", shape=(units,), init=bias_initializer,
                                            dtype=dtype, allow_deferred_init=True)
            else:
                self.bias = None
            self.act = Activation(activation, prefix=activation + "_") \
                if activation is not None else None

    def hybrid_forward(self, F, x, weight, bias=None):
        out = F.FullyConnected(x, weight, bias, no_bias=bias is None, num_hidden=self._units,
                               flatten=self._flatten, name="fwd")
        return self.act(out) if self.act is not None else out

    def __repr__(self) -> str:
        shape = self.weight.shape
        return (f"{type(self).__name__}({shape[1] if shape[1] else None} -> {shape[0]}, "
                f"{self.act if self.act else 'linear'})")


class Embedding(HybridBlock):
    """Rows of weight (input_dim, output_dim) picked by integer-valued indices: data of
    shape (x1, ..., xk) gives (x1, ..., xk, output_dim).  Indices are clipped into
    [0, input_dim); the weight's gradient adds up over repeated indices.  sparse_grad=True
    asks for a row_sparse gradient: its weight refuses to initialize (dense storage only)."""

    def __init__(self, input_dim: int, output_dim: int, dtype: Any = "float32",
                 weight_initializer: Any = None, sparse_grad: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        # a tuple, not a dict: a traced graph keeps the values it read
        self._attrs = (("input_dim", input_dim), ("output_dim", output_dim), ("dtype", dtype),
                       ("sparse_grad", sparse_grad))
        self.weight = self.params.get("weight", shape=(input_dim, output_dim),
                                      init=weight_initializer, dtype=dtype,
                                      allow_deferred_init=True,
                                      grad_stype="row_sparse" if sparse_grad else "default")

    def hybrid_forward(self, F, x, weight):
        return F.Embedding(x, weight, name="fwd", **dict(self._attrs))

    def __repr__(self) -> str:
        k = dict(self._attrs)
        return f"{type(self).__name__}({k['input_dim']} -> {k['output_dim']}, {k['dtype']})"


class Dropout(HybridBlock):
    """Sets a fraction ``rate`` of the inputs to zero while training (scaling the rest by
    1 / (1 - rate)); ``axes`` share one mask along those axes.  Same shape out as in."""

    def __init__(self, rate: float, axes: tuple = (), **kwargs: Any):
        super().__init__(**kwargs)
        self._rate = rate
        self._axes = axes

    def hybrid_forward(self, F, x):
        if self._rate > 0:
            return F.Dropout(x, p=self._rate, axes=self._axes, name="fwd", cudnn_off=False)
        return F.identity(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p = {self._rate}, axes={self._axes})"


class Flatten(HybridBlock):
    """(N, x1, ..., xn) -> (N, x1 * ... * xn)."""

    def hybrid_forward(self, F, x):
        return F.flatten(x)

    def __repr__(self) -> str:
        return type(self).__name__


def _function(function: Any, *spaces: Any) -> None:
    if isinstance(function, str):
        where = "symbol/ndarray" if len(spaces) > 1 else "ndarray"
        # MXNet asserts here: its tests expect an AssertionError
        assert all(hasattr(s, function) for s in spaces), \
            f"Function name {function} is not found in {where}."
    elif not callable(function):
        raise ValueError(f"Unrecognized function in lambda: {function} of type {type(function)}")


class Lambda(Block):
    """A function as a Block: the name of an ``nd`` function (``Lambda('tanh')``) or any
    ``function(*args)``; calling the block calls it."""

    def __init__(self, function: str | Callable, prefix: str | None = None):
        super().__init__(prefix=prefix)
        _function(function, nd)
        self._func_impl = getattr(nd, function) if isinstance(function, str) else function

    def forward(self, *args):
        return self._func_impl(*args)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._func_impl.__name__})"


class HybridLambda(HybridBlock):
    """A function as a HybridBlock: the name of a function both ``nd`` and ``sym`` have
    (``HybridLambda('tanh')``) or a ``function(F, x, *args)``."""

    def __init__(self, function: str | Callable, prefix: str | None = None):
        super().__init__(prefix=prefix)
        _function(function, nd, sym)
        if isinstance(function, str):
            self._func = lambda F, *args: getattr(F, function)(*args)
            self._func_name = function
        else:
            self._func = function
            self._func_name = function.__name__

    def hybrid_forward(self, F, x, *args):
        return self._func(F, x, *args)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._func_name})"
