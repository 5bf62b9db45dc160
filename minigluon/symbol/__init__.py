"""``mg.sym``: symbols, variables, graph JSON, and one function per registry op."""
from . import random
from . import symbol as _impl
from .graph_json import GraphFormatError, load, load_json
from .interpreter import Plan, infer_graph
from .symbol import Group, Node, Symbol, Variable, _internal, arange, empty, eye, full, ones, var, zeros

globals().update(_impl._public_ops)

__all__ = ["Symbol", "random", "Node", "var", "Variable", "Group", "zeros", "ones", "full", "eye", "empty",
           "arange", "load",
           "load_json", "GraphFormatError", "Plan", "infer_graph", "_internal"]
__all__.extend(sorted(_impl._public_ops))
