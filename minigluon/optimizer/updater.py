"""``Updater``: an optimizer plus the state of every weight it has updated, and its
serialization.

``get_states`` / ``set_states`` use a format of our own instead of MXNet's pickle, so that
loading a states file never runs code: an ``.npz`` archive (read with
``allow_pickle=False``) holding each state array, plus one JSON document with the state's
structure and the optimizer's scalar settings and counters.
"""
from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from .. import lr_scheduler
from ..base import MXNetError
from ..ndarray import NDArray
from .optimizer import Optimizer

_FORMAT = "minigluon-optimizer-states-1"


class Updater:
    """``updater(index, grad, weight)`` creates the weight's state on first use, then
    calls ``optimizer.update_multi_precision``."""

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        self.states: dict = {}
        self.states_synced: dict = {}
        self.aggregate_updates = False

    def __call__(self, index: Any, grad: Any, weight: Any) -> None:
        if isinstance(index, (list, tuple)):
            indices, grads, weights = list(index), list(grad), list(weight)
        else:
            indices, grads, weights = [index], [grad], [weight]
        if not len(indices) == len(grads) == len(weights):
            raise ValueError(f"Updater: {len(indices)} indices, {len(grads)} gradients and "
                             f"{len(weights)} weights")
        if weights:  # update counts are kept per device, as MXNet's
            ctx = getattr(weights[0], "context", None)
            self.optimizer._set_current_context(getattr(ctx, "device_id", 0))
        for idx, g, w in zip(indices, grads, weights):
            if idx not in self.states:
                self.states[idx] = self.optimizer.create_state_multi_precision(idx, w)
                self.states_synced[idx] = True
            self.optimizer.update_multi_precision(idx, w, g, self.states[idx])

    def sync_state_context(self, state: Any, context: Any) -> Any:
        """States live on the one CPU context: nothing to move."""
        return state

    def get_states(self, dump_optimizer: bool = False) -> bytes:
        """The states (and, with ``dump_optimizer``, the optimizer's scalar settings and
        update counts) as bytes for :meth:`set_states`."""
        arrays: dict[str, np.ndarray] = {}
        doc = {"format": _FORMAT,
               "states": [[_key(idx), _encode(s, arrays)] for idx, s in self.states.items()]}
        if dump_optimizer:
            doc["optimizer"] = _optimizer_settings(self.optimizer)
        buf = io.BytesIO()
        np.savez(buf, __doc__=np.array(json.dumps(doc)), **arrays)
        return buf.getvalue()

    def set_states(self, states: bytes) -> None:
        """Restore what :meth:`get_states` returned.  Optimizer settings in it are applied
        to this updater's optimizer, which must be of the same class."""
        try:
            with np.load(io.BytesIO(states), allow_pickle=False) as z:
                doc = json.loads(str(z["__doc__"]))
                arrays = {k: z[k] for k in z.files if k != "__doc__"}
        except (OSError, ValueError, KeyError) as e:
            raise MXNetError(f"optimizer states: not a minigluon states file ({e})") from None
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else None
            raise MXNetError(f"optimizer states: unknown format {found!r}, expected {_FORMAT!r}")
        try:  # everything is read before anything changes
            states = {_unkey(k): _decode(s, arrays) for k, s in doc["states"]}
            apply = _read_settings(self.optimizer, doc["optimizer"]) if "optimizer" in doc \
                else None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise MXNetError(f"optimizer states: the file is damaged ({type(e).__name__}: "
                             f"{e})") from None
        if apply is not None:
            apply()
        self.states = states
        self.states_synced = dict.fromkeys(self.states, False)


def get_updater(optimizer: Optimizer) -> Updater:
    """An :class:`Updater` for ``optimizer``."""
    return Updater(optimizer)


# --- encoding -------------------------------------------------------------------------------
def _key(idx: Any) -> list:
    if isinstance(idx, bool) or not isinstance(idx, (int, str)):
        raise MXNetError(f"optimizer states: index {idx!r} is not an int or a str")
    return ["int" if isinstance(idx, int) else "str", idx]


def _unkey(key: list) -> Any:
    kind, value = key
    return int(value) if kind == "int" else str(value)


def _encode(state: Any, arrays: dict) -> Any:
    if state is None:
        return None
    if isinstance(state, NDArray):
        name = f"a{len(arrays)}"
        arrays[name] = state.asnumpy()
        return {"array": name}
    if isinstance(state, (tuple, list)):
        return {"tuple" if isinstance(state, tuple) else "list": [_encode(s, arrays) for s in state]}
    raise MXNetError(f"optimizer states: cannot save a state of type {type(state).__name__} "
                     f"(NDArrays, None and tuples of them can be saved)")


def _decode(doc: Any, arrays: dict) -> Any:
    if doc is None:
        return None
    if "array" in doc:
        return NDArray(np.array(arrays[doc["array"]]))
    if "tuple" in doc:
        return tuple(_decode(s, arrays) for s in doc["tuple"])
    return [_decode(s, arrays) for s in doc["list"]]


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _optimizer_settings(opt: Optimizer) -> dict:
    """The optimizer's JSON-able attributes: hyper-parameters, rate, counts, multipliers
    and the scheduler's own scalars (``param_dict``, Parameters, is never saved)."""
    doc = {"class": type(opt).__name__,
           "scalars": {k: v for k, v in vars(opt).items() if _scalar(v) and not k.startswith("__")},
           "counts": [[d, [[_key(i), c] for i, c in counts.items()]]
                      for d, counts in opt._all_index_update_counts.items()],
           "lr_mult": [[_key(i), v] for i, v in opt.lr_mult.items()],
           "wd_mult": [[_key(i), v] for i, v in opt.wd_mult.items()],
           "idx2name": [[_key(i), v] for i, v in opt.idx2name.items()]}
    if opt.lr_scheduler is not None:
        doc["lr_scheduler"] = {"class": type(opt.lr_scheduler).__name__,
                               "scalars": {k: v for k, v in vars(opt.lr_scheduler).items()
                                           if _scalar(v) or _int_list(v)}}
    return doc


def _int_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) for v in value)


def _read_settings(opt: Optimizer, doc: dict) -> Any:
    """Check saved settings against ``opt`` and return a function that applies them.  Only
    attributes the optimizer (or scheduler) already has are set, and only to JSON scalars."""
    if doc["class"] != type(opt).__name__:
        raise MXNetError(f"optimizer states: saved by a {doc['class']} optimizer, loading "
                         f"into a {type(opt).__name__}")
    scalars = {k: v for k, v in doc["scalars"].items() if k in vars(opt) and _scalar(v)}
    counts = {int(d): {_unkey(i): int(c) for i, c in pairs} for d, pairs in doc["counts"]}
    tables = {name: {_unkey(i): v for i, v in doc[name]}
              for name in ("lr_mult", "wd_mult", "idx2name")}
    sched_doc, sched = doc.get("lr_scheduler"), opt.lr_scheduler
    if sched_doc is not None:
        if sched is None:
            # only mg.lr_scheduler's own classes: a name in a file never selects other code
            cls = getattr(lr_scheduler, sched_doc["class"], None)
            if not (isinstance(cls, type) and issubclass(cls, lr_scheduler.LRScheduler)):
                raise MXNetError(f"optimizer states: saved with a {sched_doc['class']} "
                                 f"scheduler; give the optimizer one of that class first")
            sched = cls.__new__(cls)
            allowed = set(sched_doc["scalars"])
        else:
            if sched_doc["class"] != type(sched).__name__:
                raise MXNetError(f"optimizer states: saved with a {sched_doc['class']}, loading "
                                 f"into an optimizer with a {type(sched).__name__}")
            allowed = set(vars(sched))
        sched_scalars = {k: v for k, v in sched_doc["scalars"].items()
                         if k in allowed and not k.startswith("__") and (_scalar(v) or _int_list(v))}

    def apply() -> None:
        for k, v in scalars.items():
            setattr(opt, k, v)
        opt._all_index_update_counts = counts
        opt._index_update_count = counts.setdefault(0, {})
        opt.lr_mult, opt.wd_mult, opt.idx2name = (tables["lr_mult"], tables["wd_mult"],
                                                  tables["idx2name"])
        if sched_doc is not None:
            for k, v in sched_scalars.items():
                setattr(sched, k, v)
            opt.lr_scheduler = sched

    return apply
