"""``mg.gluon``: Block, HybridBlock and the losses."""
from . import loss
from .block import Block, HybridBlock

__all__ = ["Block", "HybridBlock", "loss"]
