"""``mg.gluon.rnn``: MXNet 1.9.1's recurrent layers (fused RNN, LSTM, GRU) and cells."""
from .rnn_cell import (
                       BidirectionalCell,
                       DropoutCell,
                       GRUCell,
                       HybridRecurrentCell,
                       HybridSequentialRNNCell,
                       LSTMCell,
                       ModifierCell,
                       RecurrentCell,
                       ResidualCell,
                       RNNCell,
                       SequentialRNNCell,
    ZoneoutCell,
)
from .rnn_layer import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "BidirectionalCell", "DropoutCell", "GRUCell",
           "HybridRecurrentCell", "HybridSequentialRNNCell", "LSTMCell", "ModifierCell",
           "RecurrentCell", "ResidualCell", "RNNCell", "SequentialRNNCell", "ZoneoutCell"]
