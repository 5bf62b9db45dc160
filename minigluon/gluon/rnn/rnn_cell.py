"""MXNet 1.9.1's recurrent cells: one time step each (``cell(x_t, states) -> (out,
new states)``), ``unroll`` for a whole sequence, and the cells that combine others
(sequential stacks, dropout, residual, bidirectional).

A cell's parameters are ``i2h_weight``, ``h2h_weight``, ``i2h_bias``, ``h2h_bias`` with the
gates stacked as the fused layers stack them (LSTM i, f, g, o; GRU r, z, n), so a layer's
``l0_`` parameters and a cell's compute the same thing.  A hybridized cell runs each step
as one compiled graph of its own."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ... import ndarray as nd
from ... import symbol as sym
from ...ndarray import NDArray
from ...symbol import Symbol
from ..block import _TRACE_PARAMS, Block, HybridBlock
from ..nn import LeakyReLU

_TENSORS = (NDArray, Symbol)


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _parts(x, n: int) -> list:
    """The n outputs of a multi-output call (a list of arrays, or one grouped Symbol)."""
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x] if n == 1 else [x[k] for k in range(n)]


def _batch(x, axis: int) -> int:
    """x's batch size, 0 where unknown (a Symbol declared without a shape)."""
    shape = x.shape
    return shape[axis] if shape else 0


def _cells_state_info(cells, batch_size: int) -> list:
    return sum([c.state_info(batch_size) for c in cells], [])


def _cells_begin_state(cells, **kwargs) -> list:
    return sum([c.begin_state(**kwargs) for c in cells], [])


def _namespace(x) -> Any:
    """nd or sym: what x (an array, a symbol, or a list of them) computes with."""
    first = x[0] if isinstance(x, (list, tuple)) else x
    return sym if isinstance(first, Symbol) else nd


def _get_begin_state(cell, F, begin_state, inputs, batch_size: int) -> list:
    if begin_state is not None:
        return begin_state
    if F is nd:
        return cell.begin_state(func=nd.zeros, batch_size=batch_size)
    first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
    if first.shape:
        return cell.begin_state(func=sym.zeros, batch_size=first.shape[0], dtype=first.dtype)
    # a step of unknown shape: zeros of its batch size, (N, 1) from the step itself,
    # broadcast to each state's width (MXNet infers a 0 batch size; minigluon's zeros
    # have the shape they are given)
    column = sym.sum(first * 0, axis=tuple(range(1, 2)), keepdims=True)
    return [sym.broadcast_axis(column, axis=1, size=info["shape"][1])
            for info in cell.state_info(0)]


def _format_sequence(length, inputs, layout: str, merge, in_layout: str | None = None):
    """inputs as a list of steps (merge False) or one tensor with the time axis of layout
    (merge True); None keeps what it is.  Returns (inputs, time axis, F, batch size)."""
    assert inputs is not None, ("unroll(inputs=None) has been deprecated. Please create "
                                "input variables outside unroll.")
    axis, batch_axis = layout.find("T"), layout.find("N")
    in_axis = in_layout.find("T") if in_layout is not None else axis
    F = _namespace(inputs)
    batch_size = 0
    if isinstance(inputs, _TENSORS):
        batch_size = _batch(inputs, batch_axis)
        if merge is False:
            steps = inputs.shape[in_axis] if inputs.shape else length
            assert length is None or length == steps, \
                f"unroll: length {length} differs from the {steps} steps of the inputs"
            inputs = _parts(F.split(inputs, axis=in_axis, num_outputs=steps, squeeze_axis=1), steps)
    else:
        assert length is None or len(inputs) == length, \
            f"unroll: length {length} differs from the {len(inputs)} inputs given"
        batch_size = _batch(inputs[0], 0)
        if merge is True:
            inputs = F.stack(*inputs, axis=axis)
            in_axis = axis
    if isinstance(inputs, _TENSORS) and axis != in_axis:
        inputs = F.swapaxes(inputs, dim1=axis, dim2=in_axis)
    return inputs, axis, F, batch_size


def _mask_sequence_variable_length(F, data, length, valid_length, time_axis, merge):
    if not isinstance(data, _TENSORS):
        data = F.stack(*data, axis=time_axis)
    outputs = F.SequenceMask(data, sequence_length=valid_length, use_sequence_length=True,
                             axis=time_axis)
    if not merge:
        outputs = _parts(F.split(outputs, num_outputs=length, axis=time_axis, squeeze_axis=True),
                         length)
    return outputs


def _shared_variables(unroll: Callable) -> Callable:
    """unroll on symbols with one variable per Parameter over all its steps (as MXNet's
    ``Parameter.var()``), as a hybridized block's trace shares them."""
    @functools.wraps(unroll)
    def wrapped(self, *args, **kwargs):
        if _TRACE_PARAMS.get() is not None:
            return unroll(self, *args, **kwargs)
        token = _TRACE_PARAMS.set(({}, True))
        try:
            return unroll(self, *args, **kwargs)
        finally:
            _TRACE_PARAMS.reset(token)
    return wrapped


def _reverse(steps: list, length: int, valid_length=None) -> list:
    """The steps in reverse order, or with valid_length (N,) each sequence reversed
    within its own length (SequenceReverse), its padding left where it is."""
    if valid_length is None:
        return list(reversed(steps))
    F = _namespace(steps)
    flipped = F.SequenceReverse(F.stack(*steps, axis=0), valid_length, use_sequence_length=True)
    return _parts(F.split(flipped, axis=0, num_outputs=length, squeeze_axis=True), length)


class RecurrentCell(Block):
    """The base of every cell: ``state_info``, ``begin_state``, ``unroll`` and the step
    call ``cell(inputs, states) -> (output, new states)``."""

    def __init__(self, prefix: str | None = None, params: Any = None):
        super().__init__(prefix=prefix, params=params)
        self._modified = False
        self.reset()

    def reset(self) -> None:
        """Forget the step counters before unrolling again."""
        # through __dict__: a plain attribute write would make every cached graph
        # re-check its guards at its next call
        self.__dict__["_init_counter"] = -1
        self.__dict__["_counter"] = -1
        for cell in self._children.values():
            if hasattr(cell, "reset"):
                cell.reset()

    def state_info(self, batch_size: int = 0) -> list:
        """Shape and layout of each state (dicts with 'shape' and '__layout__')."""
        raise NotImplementedError()

    def begin_state(self, batch_size: int = 0, func: Any = nd.zeros, **kwargs: Any) -> list:
        """The initial states: ``func(name=..., shape=..., **kwargs)`` per state."""
        assert not self._modified, ("After applying modifier cells (e.g. ZoneoutCell) the "
                                    "base cell cannot be called directly. Call the modifier "
                                    "cell instead.")
        states = []
        for info in self.state_info(batch_size):
            self.__dict__["_init_counter"] += 1
            info = dict(info or {})
            info.update(kwargs)
            info.pop("__layout__", None)
            states.append(func(name=f"{self._prefix}begin_state_{self._init_counter}", **info))
        return states

    @_shared_variables
    def unroll(self, length: int, inputs: Any, begin_state: Any = None, layout: str = "NTC",
               merge_outputs: bool | None = None, valid_length: Any = None) -> tuple:
        """Run the cell over ``length`` steps of inputs (one tensor in ``layout``, or a list
        of (N, C) steps).  Returns (outputs, states): outputs one tensor when merge_outputs
        is True, a list of steps when False; with valid_length (N,), the steps past each
        sequence's length are zeros and the states are those of its last valid step."""
        self.reset()
        inputs, axis, F, batch_size = _format_sequence(length, inputs, layout, False)
        states = _get_begin_state(self, F, begin_state, inputs, batch_size)
        outputs, all_states = [], []
        for i in range(length):
            output, states = self(inputs[i], states)
            outputs.append(output)
            if valid_length is not None:
                all_states.append(states)
        if valid_length is not None:
            states = [F.SequenceLast(F.stack(*steps, axis=0), sequence_length=valid_length,
                                     use_sequence_length=True, axis=0)
                      for steps in zip(*all_states)]
            outputs = _mask_sequence_variable_length(F, outputs, length, valid_length, axis, True)
        outputs, _, _, _ = _format_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def _get_activation(self, F, inputs, activation, **kwargs):
        """activation applied to inputs: a name, a LeakyReLU block or a function."""
        func = {"tanh": F.tanh, "relu": F.relu, "sigmoid": F.sigmoid,
                "softsign": F.softsign}.get(activation) if isinstance(activation, str) else None
        if func is not None:
            return func(inputs, **kwargs)
        if isinstance(activation, str):
            return F.Activation(inputs, act_type=activation, **kwargs)
        if isinstance(activation, LeakyReLU):
            return F.LeakyReLU(inputs, act_type="leaky", slope=activation._alpha, **kwargs)
        return activation(inputs, **kwargs)

    def _step_prefix(self) -> str:
        """'t3_' at the fourth step: MXNet's node names (``rnn_t0_out``).  Read through
        __dict__, which a trace does not guard: the step number changes every call."""
        return f"t{self.__dict__['_counter']}_"

    def forward(self, inputs, states):
        """One step: (output, new states)."""
        self.__dict__["_counter"] += 1
        return super().forward(inputs, states)


class _Step(HybridBlock):
    """A hybridized cell's step as a graph of its own: the states are separate inputs
    (a hybridized call takes arrays, not a list)."""

    def __init__(self, cell: HybridRecurrentCell):
        super().__init__(prefix=cell.prefix)
        self.register_child(cell, "cell")

    def hybrid_forward(self, F, inputs, *states):
        return self._children["cell"](inputs, list(states))


class HybridRecurrentCell(RecurrentCell, HybridBlock):
    """A cell whose ``hybrid_forward(F, inputs, states, **params)`` traces: hybridized,
    each step runs one compiled graph."""

    def __init__(self, prefix: str | None = None, params: Any = None):
        super().__init__(prefix=prefix, params=params)

    def forward(self, inputs, states):
        weight = self._reg_params.get("i2h_weight")
        if weight is not None and weight.shape and weight.shape[-1] == 0 and inputs.shape:
            # the input width from the first step, as MXNet's shape inference gives it
            # (the block machinery's own inference traces inputs, not a list of states)
            weight.shape = (weight.shape[0], inputs.shape[-1])
        for p in self._reg_params.values():
            if p._deferred_init is not None and all(d > 0 for d in p.shape or (0,)):
                p._finish_deferred_init()
        if self._active and isinstance(inputs, NDArray):
            step = self.__dict__.get("_step")
            if step is None:  # kept out of _children: it is not a part of the cell
                step = _Step(self)
                step.hybridize(True)  # (which hybridizes this cell again: stored after)
                self.__dict__["_step"] = step
            return step(inputs, *_as_list(states))  # its trace calls this cell on symbols
        return super().forward(inputs, states)

    def hybridize(self, active: bool = True, **kwargs) -> None:
        self.__dict__.pop("_step", None)
        super().hybridize(active, **kwargs)

    def hybrid_forward(self, F, x, *args, **kwargs):
        raise NotImplementedError


def _cell_params(cell, hidden: int, gates: int, input_size: int, inits: tuple) -> None:
    shapes = {"i2h_weight": (gates * hidden, input_size), "h2h_weight": (gates * hidden, hidden),
              "i2h_bias": (gates * hidden,), "h2h_bias": (gates * hidden,)}
    for (name, shape), init in zip(shapes.items(), inits):
        setattr(cell, name, cell.params.get(name, shape=shape, init=init,
                                            allow_deferred_init=True))


def _mapping(cell) -> str:
    shape = cell.i2h_weight.shape
    return f"{shape[1] if shape[1] else None} -> {shape[0]}"


class RNNCell(HybridRecurrentCell):
    """Elman cell: ``h_t = activation(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)``; one state
    (N, hidden_size)."""

    def __init__(self, hidden_size: int, activation: Any = "tanh",
                 i2h_weight_initializer: Any = None, h2h_weight_initializer: Any = None,
                 i2h_bias_initializer: Any = "zeros", h2h_bias_initializer: Any = "zeros",
                 input_size: int = 0, prefix: str | None = None, params: Any = None):
        super().__init__(prefix=prefix, params=params)
        self._hidden_size = hidden_size
        self._activation = activation
        self._input_size = input_size
        _cell_params(self, hidden_size, 1, input_size, (i2h_weight_initializer,
                     h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer))

    def state_info(self, batch_size: int = 0) -> list:
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def _alias(self) -> str:
        return "rnn"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_mapping(self)}, {self._activation})"

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        t = self._step_prefix()
        n = self._hidden_size
        i2h = F.FullyConnected(inputs, i2h_weight, i2h_bias, num_hidden=n, name=t + "i2h")
        h2h = F.FullyConnected(states[0], h2h_weight, h2h_bias, num_hidden=n, name=t + "h2h")
        output = self._get_activation(F, F.elemwise_add(i2h, h2h, name=t + "plus0"),
                                      self._activation, name=t + "out")
        return output, [output]


class LSTMCell(HybridRecurrentCell):
    """LSTM cell, gates i, f, g, o: ``c_t = f c_(t-1) + i g``, ``h_t = o activation(c_t)``;
    states [h, c], each (N, hidden_size)."""

    def __init__(self, hidden_size: int, i2h_weight_initializer: Any = None,
                 h2h_weight_initializer: Any = None, i2h_bias_initializer: Any = "zeros",
                 h2h_bias_initializer: Any = "zeros", input_size: int = 0,
                 prefix: str | None = None, params: Any = None, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid"):
        super().__init__(prefix=prefix, params=params)
        self._hidden_size = hidden_size
        self._input_size = input_size
        _cell_params(self, hidden_size, 4, input_size, (i2h_weight_initializer,
                     h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer))
        self._activation = activation
        self._recurrent_activation = recurrent_activation

    def state_info(self, batch_size: int = 0) -> list:
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"},
                {"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def _alias(self) -> str:
        return "lstm"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_mapping(self)})"

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        t = self._step_prefix()
        n = self._hidden_size * 4
        gates = F.elemwise_add(
            F.FullyConnected(inputs, i2h_weight, i2h_bias, num_hidden=n, name=t + "i2h"),
            F.FullyConnected(states[0], h2h_weight, h2h_bias, num_hidden=n, name=t + "h2h"),
            name=t + "plus0")
        i, f, g, o = _parts(F.SliceChannel(gates, num_outputs=4, name=t + "slice"), 4)
        act, rec = self._activation, self._recurrent_activation
        i = self._get_activation(F, i, rec, name=t + "i")
        f = self._get_activation(F, f, rec, name=t + "f")
        g = self._get_activation(F, g, act, name=t + "c")
        o = self._get_activation(F, o, rec, name=t + "o")
        next_c = F.elemwise_add(F.elemwise_mul(f, states[1], name=t + "mul0"),
                                F.elemwise_mul(i, g, name=t + "mul1"), name=t + "state")
        next_h = F.elemwise_mul(o, F.Activation(next_c, act_type=act, name=t + "activation0"),
                                name=t + "out")
        return next_h, [next_h, next_c]


class GRUCell(HybridRecurrentCell):
    """GRU cell in cuDNN's form, gates r, z, n: ``n = tanh(W_in x + b_in + r (W_hn h +
    b_hn))``, ``h_t = (1 - z) n + z h_(t-1)``; one state (N, hidden_size)."""

    def __init__(self, hidden_size: int, i2h_weight_initializer: Any = None,
                 h2h_weight_initializer: Any = None, i2h_bias_initializer: Any = "zeros",
                 h2h_bias_initializer: Any = "zeros", input_size: int = 0,
                 prefix: str | None = None, params: Any = None):
        super().__init__(prefix=prefix, params=params)
        self._hidden_size = hidden_size
        self._input_size = input_size
        _cell_params(self, hidden_size, 3, input_size, (i2h_weight_initializer,
                     h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer))

    def state_info(self, batch_size: int = 0) -> list:
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def _alias(self) -> str:
        return "gru"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_mapping(self)})"

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        t = self._step_prefix()
        n = self._hidden_size * 3
        h = states[0]
        xr, xz, xn = _parts(F.SliceChannel(F.FullyConnected(
            inputs, i2h_weight, i2h_bias, num_hidden=n, name=t + "i2h"), num_outputs=3,
            name=t + "i2h_slice"), 3)
        hr, hz, hn = _parts(F.SliceChannel(F.FullyConnected(
            h, h2h_weight, h2h_bias, num_hidden=n, name=t + "h2h"), num_outputs=3,
            name=t + "h2h_slice"), 3)
        reset = F.Activation(F.elemwise_add(xr, hr, name=t + "plus0"), act_type="sigmoid",
                             name=t + "r_act")
        update = F.Activation(F.elemwise_add(xz, hz, name=t + "plus1"), act_type="sigmoid",
                              name=t + "z_act")
        new = F.Activation(F.elemwise_add(xn, F.elemwise_mul(reset, hn, name=t + "mul0"),
                                          name=t + "plus2"), act_type="tanh", name=t + "h_act")
        keep = F.elemwise_sub(F.ones_like(update, name=t + "ones_like0"), update,
                              name=t + "minus0")
        next_h = F.elemwise_add(F.elemwise_mul(keep, new, name=t + "mul1"),
                                F.elemwise_mul(update, h, name=t + "mul20"), name=t + "out")
        return next_h, [next_h]


class _CellStack:
    """What SequentialRNNCell and HybridSequentialRNNCell share."""

    _children: dict

    def __repr__(self) -> str:
        body = "\n".join(f"({i}): {_indent(repr(m), 2)}" for i, m in self._children.items())
        return f"{type(self).__name__}(\n{body}\n)"

    def add(self, cell: RecurrentCell) -> None:
        """Append a cell to the stack."""
        self.register_child(cell)

    def state_info(self, batch_size: int = 0) -> list:
        return _cells_state_info(self._children.values(), batch_size)

    def begin_state(self, **kwargs: Any) -> list:
        assert not self._modified, ("After applying modifier cells (e.g. ZoneoutCell) the "
                                    "base cell cannot be called directly. Call the modifier "
                                    "cell instead.")
        return _cells_begin_state(self._children.values(), **kwargs)

    def _step(self, inputs, states):
        self.__dict__["_counter"] += 1
        next_states, p = [], 0
        for cell in self._children.values():
            assert not isinstance(cell, BidirectionalCell), \
                "a BidirectionalCell cannot be stepped: unroll the stack instead"
            n = len(cell.state_info())
            inputs, state = cell(inputs, states[p:p + n])
            p += n
            next_states.append(state)
        return inputs, sum(next_states, [])

    @_shared_variables
    def unroll(self, length: int, inputs: Any, begin_state: Any = None, layout: str = "NTC",
               merge_outputs: bool | None = None, valid_length: Any = None) -> tuple:
        """Unroll each cell over the whole sequence in turn (see RecurrentCell.unroll)."""
        self.reset()
        inputs, _, F, batch_size = _format_sequence(length, inputs, layout, None)
        begin_state = _get_begin_state(self, F, begin_state, inputs, batch_size)
        p, next_states = 0, []
        cells = list(self._children.values())
        for i, cell in enumerate(cells):
            n = len(cell.state_info())
            inputs, states = cell.unroll(length, inputs=inputs, begin_state=begin_state[p:p + n],
                                         layout=layout,
                                         merge_outputs=None if i < len(cells) - 1 else merge_outputs,
                                         valid_length=valid_length)
            p += n
            next_states.extend(states)
        return inputs, next_states

    def __getitem__(self, i: int):
        return self._children[str(i)]

    def __len__(self) -> int:
        return len(self._children)


def _indent(text: str, spaces: int) -> str:
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * spaces + line for line in rest])


class SequentialRNNCell(_CellStack, RecurrentCell):
    """Cells stacked: each step's output is the next cell's input; the states are all
    the cells' states in order."""

    def __init__(self, prefix: str | None = None, params: Any = None):
        super().__init__(prefix=prefix, params=params)

    def __call__(self, inputs, states):
        return self._step(inputs, states)


class HybridSequentialRNNCell(_CellStack, HybridRecurrentCell):
    """SequentialRNNCell of HybridRecurrentCells."""

    def __init__(self, prefix: str | None = None, params: Any = None):
        super().__init__(prefix=prefix, params=params)

    def __call__(self, inputs, states):
        return self._step(inputs, states)

    def hybrid_forward(self, F, inputs, states):
        return self._step(inputs, states)


class DropoutCell(HybridRecurrentCell):
    """Dropout on the inputs of each step (no states): ``rate`` of them set to zero while
    training."""

    def __init__(self, rate: float, axes: tuple = (), prefix: str | None = None,
                 params: Any = None):
        super().__init__(prefix, params)
        assert isinstance(rate, (int, float)), "rate must be a number"
        self._rate = rate
        self._axes = axes

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rate={self._rate}, axes={self._axes})"

    def state_info(self, batch_size: int = 0) -> list:
        return []

    def _alias(self) -> str:
        return "dropout"

    def hybrid_forward(self, F, inputs, states):
        if self._rate > 0:
            inputs = F.Dropout(inputs, p=self._rate, axes=self._axes,
                               name=self._step_prefix() + "fwd")
        return inputs, states

    @_shared_variables
    def unroll(self, length: int, inputs: Any, begin_state: Any = None, layout: str = "NTC",
               merge_outputs: bool | None = None, valid_length: Any = None) -> tuple:
        self.reset()
        inputs, _, F, _ = _format_sequence(length, inputs, layout, merge_outputs)
        if isinstance(inputs, _TENSORS):  # one call over the whole sequence
            return self.hybrid_forward(F, inputs, begin_state if begin_state else [])
        return super().unroll(length, inputs, begin_state=begin_state, layout=layout,
                              merge_outputs=merge_outputs, valid_length=None)


class ModifierCell(HybridRecurrentCell):
    """A cell wrapped around a base cell, sharing its parameters and states."""

    def __init__(self, base_cell: RecurrentCell):
        assert not base_cell._modified, \
            f"Cell {base_cell.name} is already modified. One cell cannot be modified twice"
        base_cell._modified = True
        super().__init__(prefix=base_cell.prefix + self._alias(), params=None)
        self.base_cell = base_cell

    @property
    def params(self):
        return self.base_cell.params

    def state_info(self, batch_size: int = 0) -> list:
        return self.base_cell.state_info(batch_size)

    def begin_state(self, func: Any = sym.zeros, **kwargs: Any) -> list:
        assert not self._modified, ("After applying modifier cells (e.g. DropoutCell) the "
                                    "base cell cannot be called directly. Call the modifier "
                                    "cell instead.")
        self.base_cell._modified = False
        try:
            return self.base_cell.begin_state(func=func, **kwargs)
        finally:
            self.base_cell._modified = True

    def hybrid_forward(self, F, inputs, states):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_cell})"


class ZoneoutCell(ModifierCell):
    """Zoneout: while training, each output (and state) keeps its previous step's value
    with probability zoneout_outputs (zoneout_states).  The previous output is Python
    state between steps, which a cached graph cannot carry: hybridized or not, its steps
    run eagerly (the base cell's own steps still run compiled)."""

    def __init__(self, base_cell: RecurrentCell, zoneout_outputs: float = 0.0,
                 zoneout_states: float = 0.0):
        assert not isinstance(base_cell, BidirectionalCell), \
            ("BidirectionalCell doesn't support zoneout since it doesn't support step. "
             "Please add ZoneoutCell to the cells underneath instead.")
        super().__init__(base_cell)
        self.zoneout_outputs = zoneout_outputs
        self.zoneout_states = zoneout_states
        self.__dict__["_prev_output"] = None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(p_out={self.zoneout_outputs}, "
                f"p_state={self.zoneout_states}, {self.base_cell})")

    def _alias(self) -> str:
        return "zoneout"

    def reset(self) -> None:
        super().reset()
        self.__dict__["_prev_output"] = None

    def forward(self, inputs, states):
        self.__dict__["_counter"] += 1
        F = _namespace(inputs)
        return self.hybrid_forward(F, inputs, _as_list(states))

    def hybrid_forward(self, F, inputs, states):
        next_output, next_states = self.base_cell(inputs, states)

        def keep_new(p, like):  # 1 where the new value is kept, 0 where the old one stays
            return F.Dropout(F.ones_like(like), p=p)
        prev = self.__dict__["_prev_output"]
        if prev is None:
            prev = F.zeros_like(next_output)
        p_out, p_state = self.zoneout_outputs, self.zoneout_states
        output = (F.where(keep_new(p_out, next_output), next_output, prev)
                  if p_out != 0 else next_output)
        states = ([F.where(keep_new(p_state, new), new, old)
                   for new, old in zip(next_states, states)] if p_state != 0 else next_states)
        self.__dict__["_prev_output"] = output
        return output, states


class ResidualCell(ModifierCell):
    """The base cell's output plus its input (same width): ``out_t = cell(x_t) + x_t``."""

    def _alias(self) -> str:
        return "residual"

    def hybrid_forward(self, F, inputs, states):
        output, states = self.base_cell(inputs, states)
        return F.elemwise_add(output, inputs, name=self._step_prefix() + "fwd"), states

    @_shared_variables
    def unroll(self, length: int, inputs: Any, begin_state: Any = None, layout: str = "NTC",
               merge_outputs: bool | None = None, valid_length: Any = None) -> tuple:
        self.reset()
        self.base_cell._modified = False
        try:
            outputs, states = self.base_cell.unroll(length, inputs=inputs,
                                                    begin_state=begin_state, layout=layout,
                                                    merge_outputs=merge_outputs,
                                                    valid_length=valid_length)
        finally:
            self.base_cell._modified = True
        merge = isinstance(outputs, _TENSORS) if merge_outputs is None else merge_outputs
        inputs, axis, F, _ = _format_sequence(length, inputs, layout, merge)
        if valid_length is not None:
            inputs = _mask_sequence_variable_length(F, inputs, length, valid_length, axis, merge)
        if merge:
            return outputs + inputs, states
        return [o + i for o, i in zip(outputs, inputs)], states


class BidirectionalCell(HybridRecurrentCell):
    """Two cells over the sequence, l_cell left to right and r_cell right to left; each
    step's output is their two outputs concatenated.  It cannot be stepped: unroll it."""

    def __init__(self, l_cell: RecurrentCell, r_cell: RecurrentCell, output_prefix: str = "bi_"):
        super().__init__(prefix="", params=None)
        self.register_child(l_cell, "l_cell")
        self.register_child(r_cell, "r_cell")
        self._output_prefix = output_prefix

    def __call__(self, inputs, states):
        raise NotImplementedError("Bidirectional cannot be stepped. Please use unroll")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(forward={self._children['l_cell']}, "
                f"backward={self._children['r_cell']})")

    def state_info(self, batch_size: int = 0) -> list:
        return _cells_state_info(self._children.values(), batch_size)

    def begin_state(self, **kwargs: Any) -> list:
        assert not self._modified, ("After applying modifier cells (e.g. DropoutCell) the "
                                    "base cell cannot be called directly. Call the modifier "
                                    "cell instead.")
        return _cells_begin_state(self._children.values(), **kwargs)

    @_shared_variables
    def unroll(self, length: int, inputs: Any, begin_state: Any = None, layout: str = "NTC",
               merge_outputs: bool | None = None, valid_length: Any = None) -> tuple:
        self.reset()
        inputs, axis, F, batch_size = _format_sequence(length, inputs, layout, False)
        states = _get_begin_state(self, F, begin_state, inputs, batch_size)
        l_cell, r_cell = self._children.values()
        n = len(l_cell.state_info(batch_size))
        l_out, l_states = l_cell.unroll(length, inputs=inputs, begin_state=states[:n],
                                        layout=layout, merge_outputs=merge_outputs,
                                        valid_length=valid_length)
        r_out, r_states = r_cell.unroll(length, inputs=_reverse(inputs, length, valid_length),
                                        begin_state=states[n:], layout=layout,
                                        merge_outputs=False, valid_length=valid_length)
        r_out = _reverse(r_out, length, valid_length)
        if merge_outputs is None:
            merge_outputs = isinstance(l_out, _TENSORS)
            l_out, _, _, _ = _format_sequence(None, l_out, layout, merge_outputs)
            r_out, _, _, _ = _format_sequence(None, r_out, layout, merge_outputs)
        if merge_outputs:
            if not isinstance(r_out, _TENSORS):
                r_out = F.stack(*r_out, axis=axis)
            outputs = F.concat(l_out, r_out, dim=2, name=f"{self._output_prefix}out")
        else:
            outputs = [F.concat(lo, ro, dim=1, name=f"{self._output_prefix}t{i}")
                       for i, (lo, ro) in enumerate(zip(l_out, r_out))]
        if valid_length is not None:
            outputs = _mask_sequence_variable_length(F, outputs, length, valid_length, axis,
                                                     merge_outputs)
        return outputs, l_states + r_states
