"""Trainer: apply an ``mg.optimizer`` to a set of Parameters after ``backward()``.

``trainer.step(batch_size)`` sets the optimizer's ``rescale_grad`` to
``1 / batch_size`` (times the ``rescale_grad`` it was created with) and updates every
parameter with a gradient in place, by MXNet 1.9.1's rules.  Updates are numpy arithmetic
on the parameters' memory, outside autograd, as MXNet's are.  A parameter whose gradient
backward() has not written since the last step is stale: step refuses it, as MXNet does,
unless ``ignore_stale_grad=True``, which skips it.

minigluon has one device, so there is no kvstore: ``kvstore``, ``compression_params`` and
``update_on_kvstore`` are accepted for MXNet's signature and change nothing, exactly as
for a single-device MXNet Trainer (which creates no kvstore either).
"""
from __future__ import annotations

from typing import Any

from .. import autograd
from .. import optimizer as opt
from ..base import MXNetError
from .parameter import Parameter, ParameterDict


class StaleGradientError(MXNetError, UserWarning):
    """Trainer.step on a gradient backward() has not updated since the last step.  MXNet
    1.9.1 raises a UserWarning there; this is one, and an MXNetError."""


class Trainer:
    """Applies an optimizer to Parameters.

    ``params``: a ParameterDict or dict (taken in sorted key order, as MXNet) or a list of
    Parameters.  ``optimizer``: a registered name ('sgd', 'nag', 'adam', 'rmsprop',
    'adagrad', 'adadelta') with ``optimizer_params`` for its constructor, or an
    ``mg.optimizer.Optimizer`` instance (then ``optimizer_params`` must be empty).  Each
    Parameter's ``lr_mult`` and ``wd_mult`` scale its rate and weight decay.
    """

    def __init__(self, params: Any, optimizer: Any, optimizer_params: dict | None = None,
                 kvstore: Any = "device", compression_params: dict | None = None,
                 update_on_kvstore: bool | None = None):
        if isinstance(params, (dict, ParameterDict)) or hasattr(params, "keys"):
            params = [params[k] for k in sorted(params.keys())]
        if not isinstance(params, (list, tuple)):
            raise ValueError(f"First argument must be a list or dict of Parameters, got "
                             f"{type(params)}.")
        self._params: list[Parameter] = []
        self._param2idx: dict[str, int] = {}
        for i, param in enumerate(params):
            if not isinstance(param, Parameter):
                raise ValueError(f"First argument must be a list or dict of Parameters, got "
                                 f"list of {type(param)}.")
            self._param2idx[param.name] = i
            self._params.append(param)
            if hasattr(param, "_set_trainer"):
                param._set_trainer(self)
        if isinstance(kvstore, str) and kvstore.startswith("dist"):
            raise MXNetError(f"Trainer: kvstore={kvstore!r}: distributed training is not "
                             f"supported (minigluon runs on one CPU device)")
        self._compression_params = compression_params
        self._kvstore_params = {"kvstore": kvstore, "update_on_kvstore": update_on_kvstore}
        self._init_optimizer(optimizer, optimizer_params or {})
        self._scale = self._optimizer.rescale_grad
        # a single-device MXNet Trainer has no kvstore; these mirror its attributes
        self._kvstore = None
        self._update_on_kvstore = None
        self._distributed = None
        self._kv_initialized = False
        self._params_to_init: list = []

    def _init_optimizer(self, optimizer: Any, optimizer_params: dict) -> None:
        param_dict = dict(enumerate(self._params))
        if isinstance(optimizer, opt.Optimizer):
            if optimizer_params:
                raise AssertionError("optimizer_params must be None if optimizer is an instance "
                                     "of Optimizer instead of str")
            self._optimizer = optimizer
            self._optimizer.param_dict = param_dict
        elif isinstance(optimizer, str):
            self._optimizer = opt.create(optimizer, param_dict=param_dict, **optimizer_params)
        else:
            raise TypeError(f"Trainer: optimizer must be a name or an mg.optimizer.Optimizer, "
                            f"got {type(optimizer).__name__}")
        self._updaters = [opt.get_updater(self._optimizer)]

    @property
    def learning_rate(self) -> float:
        """The rate of the next update (the scheduler's, if the optimizer has one)."""
        return self._optimizer.learning_rate

    @property
    def optimizer(self) -> opt.Optimizer:
        return self._optimizer

    def set_learning_rate(self, lr: float) -> None:
        """A new fixed rate; raises UserWarning when an lr_scheduler sets the rate."""
        self._optimizer.set_learning_rate(lr)

    def _init_kvstore(self) -> None:
        self._kv_initialized = True

    def step(self, batch_size: int, ignore_stale_grad: bool = False) -> None:
        """``allreduce_grads()`` then ``update(batch_size)``: one update from the
        gradients backward() wrote since the last step, scaled by 1 / batch_size.  A
        parameter without one raises StaleGradientError (nothing is updated), or, with
        ``ignore_stale_grad=True``, keeps its value."""
        self._rescale(batch_size)
        self._init_kvstore()
        self._allreduce_grads()
        self._update(ignore_stale_grad)

    def allreduce_grads(self) -> None:
        """Sum each gradient over devices: with one device, nothing to do.  Call between
        backward() and :meth:`update` when transforming gradients (e.g. clipping)."""
        self._init_kvstore()
        self._allreduce_grads()

    def _allreduce_grads(self) -> None:
        """One device: the gradients are already reduced."""

    def update(self, batch_size: int, ignore_stale_grad: bool = False) -> None:
        """The update half of :meth:`step` (after :meth:`allreduce_grads`)."""
        self._init_kvstore()
        self._rescale(batch_size)
        self._update(ignore_stale_grad)

    def _rescale(self, batch_size: Any) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, float)) \
                or not batch_size > 0:
            raise ValueError(f"Trainer: batch_size must be a positive number, got {batch_size!r}")
        self._optimizer.rescale_grad = self._scale / batch_size

    def _update(self, ignore_stale_grad: bool = False) -> None:
        todo = [(i, p) for i, p in enumerate(self._params) if p.grad_req != "null"]
        for _, p in todo:
            if p.data().grad is None:
                raise MXNetError(f"Trainer: parameter {p.name} has no gradient buffer")
        stale = {p.name for _, p in todo if not autograd.grad_is_fresh(p.data())}
        if stale and not ignore_stale_grad:
            names = ", ".join(p.name for _, p in todo if p.name in stale)
            raise StaleGradientError(
                f"Trainer.step: the gradient of parameter(s) {names} has not been "
                f"updated by backward since the last step. This could mean a bug in your "
                f"model that made it use only a subset of the parameters (blocks) for this "
                f"iteration. If you are intentionally only using a subset, call step with "
                f"ignore_stale_grad=True to skip updating the parameters with a stale gradient")
        for i, p in todo:
            if p.name in stale:
                continue
            w = p.data()
            self._updaters[0](i, w.grad, w)
            autograd.mark_stale(w)

    def save_states(self, fname: str) -> None:
        """Write the optimizer's states (momenta, moments, update counts, rate and
        settings) to ``fname``: an ``.npz`` of arrays plus JSON, which loads without
        running code.  Parameters' ``lr_mult`` / ``wd_mult`` are not saved."""
        self._init_kvstore()
        with open(fname, "wb") as f:
            f.write(self._updaters[0].get_states(dump_optimizer=True))

    def load_states(self, fname: str) -> None:
        """Restore what :meth:`save_states` wrote into this Trainer's optimizer (which must
        be of the same class); multipliers come from this Trainer's Parameters."""
        self._init_kvstore()
        with open(fname, "rb") as f:
            blob = f.read()
        for updater in self._updaters:
            updater.set_states(blob)
        self._optimizer = self._updaters[0].optimizer
        self._optimizer.param_dict = dict(enumerate(self._params))
