"""Trainer: apply an ``mg.optimizer`` to a set of Parameters after ``backward()``.

``trainer.step(batch_size)`` sets the optimizer's ``rescale_grad`` to
``1 / batch_size`` (times the ``rescale_grad`` it was created with) and updates every
parameter with a gradient in place, by MXNet 1.9.1's rules.  Updates are numpy arithmetic
on the parameters' memory, outside autograd, as MXNet's are.  A parameter whose gradient
backward() has not written since the last step is stale: step refuses it, as MXNet does,
unless ``ignore_stale_grad=True``, which skips it.

A parameter initialized on several contexts has one copy per context.  As in MXNet, the
Trainer then makes a kvstore (``mg.kv``; 'device' by default) at the first step: it sums
the copies' gradients and either updates one stored weight that every copy pulls
(``update_on_kvstore``, the default) or hands every copy the summed gradient, which one
updater per context applies.  Either way all copies stay equal.  With one context there is
no kvstore, as in MXNet.
"""
from __future__ import annotations

import os
from typing import Any

from .. import autograd
from .. import kvstore as kvs
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
            param._set_trainer(self)
        if isinstance(kvstore, str) and kvstore.startswith("dist"):
            raise MXNetError(f"Trainer: kvstore={kvstore!r}: distributed training is not "
                             f"supported (minigluon runs in one process)")
        if kvstore is not None and not isinstance(kvstore, (str, kvs.KVStoreBase)):
            raise TypeError(f"Trainer: kvstore must be a KVStore, a str or None, got "
                            f"{type(kvstore).__name__}")
        self._compression_params = compression_params
        self._contexts = self._check_contexts()
        self._init_optimizer(optimizer, optimizer_params or {})
        self._scale = self._optimizer.rescale_grad
        self._kvstore_params = {"kvstore": kvstore, "update_on_kvstore": update_on_kvstore}
        self._reset_kvstore()

    def _check_contexts(self) -> list:
        """The contexts every parameter is on (they must agree, as MXNet asserts).  A
        parameter not initialized yet is skipped (MXNet refuses it here): the first step
        looks again, and reading it there raises."""
        contexts = None
        for param in self._params:
            if param._data_list is None and param._deferred_init is None:
                continue
            ctx = param.list_ctx()
            assert contexts is None or contexts == ctx, (
                f"All Parameters must be initialized on the same set of contexts, but "
                f"Parameter {param.name} is initialized on {ctx} while previous Parameters "
                f"are initialized on {contexts}.")
            contexts = ctx
        return contexts or []

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
        # one updater (and so one set of states) per context, as MXNet
        self._updaters = [opt.get_updater(self._optimizer)
                          for _ in range(max(1, len(self._contexts)))]

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

    def _reset_kvstore(self) -> None:
        """Forget the kvstore: the next step makes a new one from the parameters' values
        (after a load or set_data changed them under a kvstore that holds the weights)."""
        self._kv_initialized = False
        self._kvstore = None
        self._distributed = None
        self._update_on_kvstore = None
        self._params_to_init = list(self._params)

    def _create_kvstore(self) -> tuple[Any, bool]:
        """The store and whether it updates the weights: none for one context (unless a
        store object is given), else the configured one; MXNET_UPDATE_ON_KVSTORE (default
        1) and the store's capability decide the default, as MXNet's model._create_kvstore."""
        kvstore = self._kvstore_params["kvstore"]
        update_on_kvstore = bool(int(os.getenv("MXNET_UPDATE_ON_KVSTORE", "1")))
        if isinstance(kvstore, kvs.KVStoreBase):
            kv = kvstore
        elif isinstance(kvstore, str) and len(self._contexts) > 1:
            kv = kvs.create(kvstore)
        else:
            kv = None
        if kv is None:
            return None, False
        return kv, update_on_kvstore and kv.is_capable(kvs.KVStoreBase.OPTIMIZER)

    def _init_kvstore(self) -> None:
        """Make the kvstore (if any) and decide update_on_kvstore, as MXNet's Trainer."""
        if any(p._stype != "default" or p._grad_stype != "default" for p in self._params):
            raise MXNetError("Trainer: row_sparse or csr parameters or gradients are not "
                             "supported (minigluon has dense storage only)")
        self._contexts = self._check_contexts()
        while len(self._updaters) < len(self._contexts):  # initialized after the Trainer
            self._updaters.append(opt.get_updater(self._optimizer))
        config = self._kvstore_params
        kvstore, update_on_kvstore = self._create_kvstore()
        self._distributed = False if kvstore is not None else None
        if config["update_on_kvstore"] is not None:
            update_on_kvstore = config["update_on_kvstore"]
        if kvstore is not None and update_on_kvstore and \
                not kvstore.is_capable(kvs.KVStoreBase.OPTIMIZER):
            if config["update_on_kvstore"]:
                raise ValueError(f"Please set update_on_kvstore=False when training with "
                                 f"{type(kvstore)}")
            update_on_kvstore = False
        if kvstore is not None:
            if self._compression_params:
                kvstore.set_gradient_compression(self._compression_params)
            if update_on_kvstore:
                kvstore.set_optimizer(self._optimizer)
            self._kvstore, self._update_on_kvstore = kvstore, bool(update_on_kvstore)
        else:
            self._kvstore, self._update_on_kvstore = None, None
        self._kv_initialized = True

    def _init_params(self) -> None:
        """Put the parameters' values on the kvstore (copy 0, broadcast to every copy);
        those still waiting for a deferred initialization stay for the next step."""
        waiting = []
        if self._kvstore is not None:
            for param in self._params_to_init:
                if param._deferred_init is not None:
                    waiting.append(param)
                    continue
                arrays = param.list_data()
                self._kvstore.broadcast(self._param2idx[param.name], arrays[0], arrays)
        self._params_to_init = waiting

    def _prepare(self) -> None:
        if not self._kv_initialized:
            self._init_kvstore()
        if self._params_to_init:
            self._init_params()

    def step(self, batch_size: int, ignore_stale_grad: bool = False) -> None:
        """``allreduce_grads()`` then ``update(batch_size)``: one update from the
        gradients backward() wrote since the last step, scaled by 1 / batch_size.  A
        parameter without one raises StaleGradientError (nothing is updated), or, with
        ``ignore_stale_grad=True``, keeps its value."""
        self._rescale(batch_size)
        self._prepare()
        self._check_fresh(ignore_stale_grad)
        self._allreduce_grads()
        self._update(ignore_stale_grad)

    def allreduce_grads(self) -> None:
        """Sum each parameter's gradients over its copies, into every copy.  Call between
        backward() and :meth:`update` when transforming gradients (e.g. clipping); not
        with ``update_on_kvstore`` (an AssertionError, as MXNet)."""
        self._prepare()
        assert not (self._kvstore and self._update_on_kvstore), (
            "allreduce_grads() when parameters are updated on kvstore is not supported. Try "
            "setting `update_on_kvstore` to False when creating trainer.")
        self._allreduce_grads()

    def _allreduce_grads(self) -> None:
        if not self._kvstore:
            return
        for i, param in enumerate(self._params):
            if param.grad_req == "null":
                continue
            if self._update_on_kvstore:
                self._kvstore.pushpull(i, param.list_grad(), out=param.list_data(),
                                       priority=-i)
            else:
                self._kvstore.pushpull(i, param.list_grad(), priority=-i)

    def update(self, batch_size: int, ignore_stale_grad: bool = False) -> None:
        """The update half of :meth:`step` (after :meth:`allreduce_grads`)."""
        self._prepare()
        assert not (self._kvstore and self._update_on_kvstore), (
            "update() when parameters are updated on kvstore is not supported. Try setting "
            "`update_on_kvstore` to False when creating trainer.")
        self._rescale(batch_size)
        self._check_fresh(ignore_stale_grad)
        self._update(ignore_stale_grad)

    def _rescale(self, batch_size: Any) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, float)) \
                or not batch_size > 0:
            raise ValueError(f"Trainer: batch_size must be a positive number, got {batch_size!r}")
        self._optimizer.rescale_grad = self._scale / batch_size

    def _todo(self) -> list[Parameter]:
        todo = [p for p in self._params if p.grad_req != "null"]
        for p in todo:
            arrays = p.list_data()
            if arrays[0].grad is None:
                raise MXNetError(f"Trainer: parameter {p.name} has no gradient buffer")
            if len(arrays) != len(self._updaters):
                raise MXNetError(
                    f"Trainer: parameter {p.name} is on {p.list_ctx()}, but the Trainer was "
                    f"made for parameters on {self._contexts}; make a new Trainer after "
                    f"initialize() or reset_ctx()")
        return todo

    def _check_fresh(self, ignore_stale_grad: bool) -> None:
        """Refuse (before anything changes) a gradient backward() has not written since the
        last step, on any copy."""
        if ignore_stale_grad:
            return
        stale = []
        for p in self._todo():
            arrays = p.list_data()
            where = [str(a.context) for a in arrays if not autograd.grad_is_fresh(a)]
            if where:  # the contexts are named only when there are several copies
                stale.append(p.name if len(arrays) == 1 else f"{p.name} on {', '.join(where)}")
        if stale:
            raise StaleGradientError(
                f"Trainer.step: the gradient of parameter(s) {'; '.join(stale)} has not been "
                f"updated by backward since the last step. This could mean a bug in your "
                f"model that made it use only a subset of the parameters (blocks) for this "
                f"iteration. If you are intentionally only using a subset, call step with "
                f"ignore_stale_grad=True to skip updating the parameters with a stale gradient")

    def _update(self, ignore_stale_grad: bool = False) -> None:
        on_kvstore = bool(self._kvstore and self._update_on_kvstore)
        for p in self._todo():
            i = self._param2idx[p.name]
            for updater, w in zip(self._updaters, p.list_data()):
                if not autograd.grad_is_fresh(w):
                    continue  # only with ignore_stale_grad: _check_fresh refused it otherwise
                if not on_kvstore:  # else the kvstore updated the weight at the pushpull
                    updater(i, w.grad, w)
                autograd.mark_stale(w)

    def save_states(self, fname: str) -> None:
        """Write the optimizer's states (momenta, moments, update counts, rate and
        settings) to ``fname``: an ``.npz`` of arrays plus JSON, which loads without
        running code.  Parameters' ``lr_mult`` / ``wd_mult`` are not saved."""
        self._prepare()
        if self._update_on_kvstore:
            self._kvstore.save_optimizer_states(fname, dump_optimizer=True)
            return
        with open(fname, "wb") as f:
            f.write(self._updaters[0].get_states(dump_optimizer=True))

    def load_states(self, fname: str) -> None:
        """Restore what :meth:`save_states` wrote into this Trainer's optimizer (which must
        be of the same class); multipliers come from this Trainer's Parameters."""
        self._prepare()
        if self._update_on_kvstore:
            self._kvstore.load_optimizer_states(fname)
            self._optimizer = self._kvstore._updater.optimizer
        else:
            with open(fname, "rb") as f:
                blob = f.read()
            for updater in self._updaters:
                updater.set_states(blob)
                updater.optimizer = self._updaters[0].optimizer
            self._optimizer = self._updaters[0].optimizer
        self._optimizer.param_dict = dict(enumerate(self._params))
