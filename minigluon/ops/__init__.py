"""The op registry and every operator definition (importing this registers them all)."""
# importing a module registers its ops
from . import activations, creation, elemwise, linalg, nn, norm, random, reduce, select, sequence, shape  # noqa: F401
from .registry import OPS, Attr, AttrError, DTypeError, Op, canonical_ops, format_attr, get_op, register

__all__ = ["OPS", "Attr", "AttrError", "DTypeError", "Op", "canonical_ops", "format_attr", "get_op",
           "register"]
