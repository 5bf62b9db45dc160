"""Helpers the ops' gradient rules (``Op.grad``) share.

A rule is written with F-API calls (``F`` is ``mg.nd`` eagerly, ``mg.sym`` when traced), so
these helpers take ``F`` too and never import either front end.
"""
from __future__ import annotations


def unbroadcast(F, g, shape: tuple):
    """Sum g down to shape: the gradient of broadcasting an input of that shape."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = len(g.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    if axes:
        g = F.sum(g, axis=axes, keepdims=True)
    return F.reshape(g, shape=shape)


__all__ = ["unbroadcast"]
