"""``mg.gluon.model_zoo``: MXNet's predefined networks (``vision``)."""
from . import vision

__all__ = ["vision"]
