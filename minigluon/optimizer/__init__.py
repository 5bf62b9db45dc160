"""``mg.optimizer``: MXNet 1.9.1's optimizers, ``create(name, **kwargs)`` and the Updater.

``mg.optimizer.create('sgd', learning_rate=0.1, momentum=0.9)`` makes one by its registered
name ('sgd', 'nag', 'adam', 'rmsprop', 'adagrad', 'adadelta'); ``@mg.optimizer.register``
adds a subclass of :class:`Optimizer` under its lower-cased class name.
"""
from .adaptive import AdaDelta, AdaGrad, Adam, RMSProp
from .optimizer import Optimizer, create, register
from .sgd import NAG, SGD
from .updater import Updater, get_updater

__all__ = ["Optimizer", "SGD", "NAG", "Adam", "RMSProp", "AdaGrad", "AdaDelta", "Updater",
           "create", "get_updater", "register"]
