"""MXNet 1.9.1's fused recurrent layers ``RNN``, ``LSTM`` and ``GRU``: their parameters
(``l0_i2h_weight``, ``l0_h2h_weight``, ``l0_i2h_bias``, ``l0_h2h_bias``, ``r0_...`` for
the right-to-left direction, per layer) packed by ``_rnn_param_concat`` into one call of
the registry's ``RNN`` op, eagerly and hybridized alike."""
from __future__ import annotations

from typing import Any

from ... import ndarray as nd
from ... import symbol as sym
from ...ndarray import NDArray
from ...symbol import Symbol
from ..block import HybridBlock

_GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


class _RNNLayer(HybridBlock):
    """What RNN, LSTM and GRU share: the parameters, begin_state and the call.

    A call takes data (T, N, C) in layout 'TNC' or (N, T, C) in 'NTC' and optionally the
    begin states (a list, one array for RNN/GRU, [h, c] for LSTM, each (layers *
    directions, N, hidden)).  It returns the output (T, N, directions * hidden) in the
    same layout, and, when states were given, the final states as a list."""

    def __init__(self, hidden_size: int, num_layers: int, layout: str, dropout: float,
                 bidirectional: bool, input_size: int, i2h_weight_initializer: Any,
                 h2h_weight_initializer: Any, i2h_bias_initializer: Any,
                 h2h_bias_initializer: Any, mode: str, projection_size: int | None,
                 h2r_weight_initializer: Any, lstm_state_clip_min: float | None,
                 lstm_state_clip_max: float | None, lstm_state_clip_nan: bool, dtype: Any,
                 use_sequence_length: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        # MXNet asserts here: its tests expect an AssertionError
        assert layout in ("TNC", "NTC"), f"Invalid layout {layout}; must be one of ['TNC' or 'NTC']"
        if projection_size:
            raise NotImplementedError("minigluon's LSTM has no projection_size (LSTMP) yet")
        self._hidden_size = hidden_size
        self._projection_size = None
        self._num_layers = num_layers
        self._mode = mode
        self._layout = layout
        self._dropout = dropout
        self._dir = 2 if bidirectional else 1
        self._input_size = input_size
        self._lstm_state_clip_min = lstm_state_clip_min
        self._lstm_state_clip_max = lstm_state_clip_max
        self._lstm_state_clip_nan = lstm_state_clip_nan
        self._dtype = dtype
        self._use_sequence_length = use_sequence_length
        self._gates = _GATES[mode]
        self._skip_states = False  # whether the call being run was given no states
        ng, ni, nh = self._gates, input_size, hidden_size
        inits = {"i2h_weight": i2h_weight_initializer, "h2h_weight": h2h_weight_initializer,
                 "i2h_bias": i2h_bias_initializer, "h2h_bias": h2h_bias_initializer}
        self._initializers = {f"{k}_initializer": v for k, v in inits.items()}
        for i in range(num_layers):
            for j in ["l", "r"][:self._dir]:
                shapes = {"i2h_weight": (ng * nh, ni), "h2h_weight": (ng * nh, nh),
                          "i2h_bias": (ng * nh,), "h2h_bias": (ng * nh,)}
                for kind, shape in shapes.items():
                    name = f"{j}{i}_{kind}"
                    setattr(self, name, self.params.get(name, shape=shape, init=inits[kind],
                                                        allow_deferred_init=True, dtype=dtype))
            ni = nh * self._dir

    def __repr__(self) -> str:
        shape = self.l0_i2h_weight.shape
        text = f"{type(self).__name__}({shape[1] if shape[1] else None} -> " \
               f"{shape[0] // self._gates}, {self._layout}"
        if self._num_layers != 1:
            text += f", num_layers={self._num_layers}"
        if self._dropout != 0:
            text += f", dropout={self._dropout}"
        if self._dir == 2:
            text += ", bidirectional"
        return text + ")"

    def state_info(self, batch_size: int = 0) -> list[dict]:
        raise NotImplementedError

    def infer_shape(self, inputs, states=None, *args) -> None:
        """Give the parameters their shapes from these inputs and finish their deferred
        initialization (the states, a list, take no part: their shapes are fixed)."""
        self._infer_input_size(inputs)
        for p in self._reg_params.values():
            if p._deferred_init is not None and all(d > 0 for d in p.shape):
                p._finish_deferred_init()

    def _unfuse(self):
        """The same network as a stack of cells sharing this layer's parameters
        (HybridSequentialRNNCell of cells, BidirectionalCells, DropoutCells)."""
        from . import rnn_cell
        kinds = {"rnn_relu": lambda **kw: rnn_cell.RNNCell(self._hidden_size, activation="relu", **kw),
                 "rnn_tanh": lambda **kw: rnn_cell.RNNCell(self._hidden_size, activation="tanh", **kw),
                 "lstm": lambda **kw: rnn_cell.LSTMCell(self._hidden_size, **kw),
                 "gru": lambda **kw: rnn_cell.GRUCell(self._hidden_size, **kw)}
        make = kinds[self._mode]
        stack = rnn_cell.HybridSequentialRNNCell(prefix=self.prefix, params=self.params)
        with stack.name_scope():
            ni = self._input_size
            for i in range(self._num_layers):
                kw = {"input_size": ni, **self._initializers}
                if self._dir == 2:
                    stack.add(rnn_cell.BidirectionalCell(make(prefix=f"l{i}_", **kw),
                                                         make(prefix=f"r{i}_", **kw)))
                else:
                    stack.add(make(prefix=f"l{i}_", **kw))
                if self._dropout > 0 and i != self._num_layers - 1:
                    stack.add(rnn_cell.DropoutCell(self._dropout))
                ni = self._hidden_size * self._dir
        return stack

    def cast(self, dtype: Any) -> None:
        super().cast(dtype)
        self._dtype = dtype

    def begin_state(self, batch_size: int = 0, func: Any = nd.zeros, **kwargs: Any) -> list:
        """The initial states: ``func(name=..., shape=..., dtype=..., **kwargs)`` per entry
        of state_info (zeros by default; ``sym.var`` for graph inputs)."""
        states = []
        for i, info in enumerate(self.state_info(batch_size)):
            info = dict(info or {})
            info.update(kwargs)
            info.pop("__layout__", None)
            states.append(func(name=f"{self.prefix}h0_{i}", **info))
        return states

    def _infer_input_size(self, inputs) -> None:
        """Give the first layer's input weights their width from the data, as MXNet's
        shape inference does at the first call (``input_size=0``)."""
        shape = inputs.shape
        width = shape[self._layout.find("C")] if shape and len(shape) == 3 else 0
        for j in ["l", "r"][:self._dir]:
            p = getattr(self, f"{j}0_i2h_weight")
            if p.shape[1] == 0 and width > 0:
                p.shape = (p.shape[0], width)

    def __call__(self, inputs, states=None, sequence_length=None, **kwargs):
        skip_states = states is None
        if self._use_sequence_length:
            raise NotImplementedError("use_sequence_length is read only by MXNet 1.9.1's "
                                      "cuDNN kernel; minigluon's RNN layers do not support it")
        if isinstance(inputs, (NDArray, Symbol)):
            self._infer_input_size(inputs)
        if self.__dict__.get("_skip_states") != skip_states:
            # hybrid_forward reads it: a trace is guarded by its value, so a hybridized
            # layer traces again when calls switch between giving states and not
            self._skip_states = skip_states
        if skip_states:  # zeros, passed as inputs as MXNet passes them
            if not inputs.shape:
                raise ValueError(f"{type(self).__name__}: data of unknown shape needs begin "
                                 f"states (begin_state(func=mg.sym.var))")
            batch = inputs.shape[self._layout.find("N")]
            func = nd.zeros if isinstance(inputs, NDArray) else sym.zeros
            states = self.begin_state(batch, func=func, dtype=inputs.dtype)
        if isinstance(states, (NDArray, Symbol)):
            states = [states]
        return super().__call__(inputs, *states, **kwargs)

    def hybrid_forward(self, F, inputs, *states, **params):
        """(output, [final states]); the output alone when the call gave no states."""
        skip_states = self._skip_states
        if len(states) != len(self.state_info()):
            raise ValueError(f"{type(self).__name__} takes {len(self.state_info())} "
                             f"begin state(s), got {len(states)}")
        if inputs.shape:  # (a symbol declared without a shape is checked when inferred)
            info = self.state_info(inputs.shape[self._layout.find("N")])
            for state, want in zip(states, info):
                if state.shape and tuple(state.shape) != want["shape"]:
                    raise ValueError(f"Invalid recurrent state shape. Expecting "
                                     f"{want['shape']}, got {tuple(state.shape)}.")
        if self._layout == "NTC":
            inputs = F.swapaxes(inputs, dim1=0, dim2=1)
        # MXNet's packed order: all weights, then all biases; layer, direction, i2h/h2h
        flat = [F.reshape(params[f"{d}{layer}_{g}_{t}"], shape=(-1,))
                for t in ("weight", "bias") for layer in range(self._num_layers)
                for d in ["l", "r"][:self._dir] for g in ("i2h", "h2h")]
        packed = F._internal._rnn_param_concat(*flat, dim=0)
        rnn = F.RNN(inputs, packed, *states, state_size=self._hidden_size,
                    num_layers=self._num_layers, bidirectional=self._dir == 2,
                    p=self._dropout, state_outputs=True, mode=self._mode,
                    lstm_state_clip_min=self._lstm_state_clip_min,
                    lstm_state_clip_max=self._lstm_state_clip_max,
                    lstm_state_clip_nan=self._lstm_state_clip_nan)
        outputs, new_states = rnn[0], [rnn[k] for k in range(1, len(states) + 1)]
        if self._layout == "NTC":
            outputs = F.swapaxes(outputs, dim1=0, dim2=1)
        return outputs if skip_states else (outputs, new_states)


def _state(layer: _RNNLayer, batch_size: int, size: int) -> dict:
    return {"shape": (layer._num_layers * layer._dir, batch_size, size), "__layout__": "LNC",
            "dtype": layer._dtype}


class RNN(_RNNLayer):
    """A multi-layer Elman RNN: ``h_t = act(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)`` with
    act 'relu' or 'tanh'.  One begin state (layers * directions, N, hidden_size)."""

    def __init__(self, hidden_size: int, num_layers: int = 1, activation: str = "relu",
                 layout: str = "TNC", dropout: float = 0, bidirectional: bool = False,
                 i2h_weight_initializer: Any = None, h2h_weight_initializer: Any = None,
                 i2h_bias_initializer: Any = "zeros", h2h_bias_initializer: Any = "zeros",
                 input_size: int = 0, dtype: Any = "float32", **kwargs: Any):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, "rnn_" + activation, None, None, None, None,
                         False, dtype, **kwargs)

    def state_info(self, batch_size: int = 0) -> list[dict]:
        return [_state(self, batch_size, self._hidden_size)]


class LSTM(_RNNLayer):
    """A multi-layer LSTM (gates i, f, g, o; ``c_t = f c_(t-1) + i g``, ``h_t = o
    tanh(c_t)``).  Two begin states [h, c], each (layers * directions, N, hidden_size)."""

    def __init__(self, hidden_size: int, num_layers: int = 1, layout: str = "TNC",
                 dropout: float = 0, bidirectional: bool = False, input_size: int = 0,
                 i2h_weight_initializer: Any = None, h2h_weight_initializer: Any = None,
                 i2h_bias_initializer: Any = "zeros", h2h_bias_initializer: Any = "zeros",
                 projection_size: int | None = None, h2r_weight_initializer: Any = None,
                 state_clip_min: float | None = None, state_clip_max: float | None = None,
                 state_clip_nan: bool = False, dtype: Any = "float32", **kwargs: Any):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, "lstm", projection_size, h2r_weight_initializer,
                         state_clip_min, state_clip_max, state_clip_nan, dtype, **kwargs)

    def state_info(self, batch_size: int = 0) -> list[dict]:
        return [_state(self, batch_size, self._hidden_size),
                _state(self, batch_size, self._hidden_size)]


class GRU(_RNNLayer):
    """A multi-layer GRU in cuDNN's form (gates r, z, n; ``n_t = tanh(W_in x_t + b_in + r_t
    (W_hn h_(t-1) + b_hn))``, ``h_t = (1 - z_t) n_t + z_t h_(t-1)``).  One begin state."""

    def __init__(self, hidden_size: int, num_layers: int = 1, layout: str = "TNC",
                 dropout: float = 0, bidirectional: bool = False, input_size: int = 0,
                 i2h_weight_initializer: Any = None, h2h_weight_initializer: Any = None,
                 i2h_bias_initializer: Any = "zeros", h2h_bias_initializer: Any = "zeros",
                 dtype: Any = "float32", **kwargs: Any):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, "gru", None, None, None, None, False, dtype,
                         **kwargs)

    def state_info(self, batch_size: int = 0) -> list[dict]:
        return [_state(self, batch_size, self._hidden_size)]
