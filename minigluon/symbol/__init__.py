"""``mg.sym``: symbols, variables, graph JSON, and one function per registry op."""
from types import SimpleNamespace as _SimpleNamespace

from . import random
from . import symbol as _impl
from .graph_json import GraphFormatError, load, load_json
from .interpreter import Plan, infer_graph
from .symbol import Group, Node, Symbol, Variable, _internal, arange, empty, eye, full, ones, var, zeros

globals().update(_impl._public_ops)
# MXNet's F.contrib: its _contrib_* operators under their short names
contrib = _SimpleNamespace(**{_n[len("_contrib_"):]: _f for _n, _f in vars(_internal).items()
                              if _n.startswith("_contrib_")})

__all__ = ["Symbol", "random", "Node", "var", "Variable", "Group", "zeros", "ones", "full", "eye", "empty",
           "arange", "load",
           "load_json", "GraphFormatError", "Plan", "infer_graph", "_internal", "contrib"]
__all__.extend(sorted(_impl._public_ops))
