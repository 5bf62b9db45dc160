"""The op registry and every operator definition (importing this registers them all)."""
# importing a module registers its ops
from . import (  # noqa: F401
           activations,
           conv,
           creation,
           elemwise,
           linalg,
           nn,
           norm,
           pool,
           random,
           reduce,
           rnn,
           select,
           sequence,
           shape,
)
from .registry import OPS, Attr, AttrError, DTypeError, Op, canonical_ops, format_attr, get_op, register

__all__ = ["OPS", "Attr", "AttrError", "DTypeError", "Op", "canonical_ops", "format_attr", "get_op",
           "register"]
