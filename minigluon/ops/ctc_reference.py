"""Pure-numpy reference for MXNet 1.9.1 ``CTCLoss`` (Graves et al., 2006).

Forward-backward in log space, vectorised over the batch; the only Python loop
is over time.  Everything is computed in float64 and cast back at the end.
"""

import numpy as np

__all__ = ["ctc_loss", "validate", "validate_ctc"]


def _lengths(arg: np.ndarray | None, name: str, n: int, upper: int) -> np.ndarray | None:
    """Validate an optional (N,) array of integral lengths in [0, upper]."""
    if arg is None:
        return None
    a = np.asarray(arg)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {a.shape}")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)
    integral = np.isfinite(a) & (a == np.floor(a))
    bad = ~integral | ~((a >= 0) & (a <= upper))
    if bad.any():  # report the first offender, as an element-by-element check would
        i = int(np.argmax(bad))
        v = a[i]
        if not integral[i]:
            raise ValueError(f"{name}[{i}] = {float(v):g} is not an integer")
        raise ValueError(f"{name}[{i}] = {int(v)} is out of range [0, {upper}]")
    return a.astype(np.int64)


def _shift(v: np.ndarray, k: int) -> np.ndarray:
    """out[:, s] = v[:, s - k], -inf where s - k is out of range (works for any S, k)."""
    out = np.full_like(v, -np.inf)
    S = v.shape[1]
    if 0 < k < S:
        out[:, k:] = v[:, :S - k]
    elif 0 < -k < S:
        out[:, :S + k] = v[:, -k:]
    return out


def validate(
    data: np.ndarray,
    label: np.ndarray,
    data_lengths: np.ndarray | None = None,
    label_lengths: np.ndarray | None = None,
    blank_label: str = "first",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Check ``ctc_loss``'s inputs; raises ValueError naming the offending argument.

    Returns (data, label as float64, data lengths, label lengths, blank index), the
    lengths as int64 (N,) arrays: T / the first padding position where not given.
    """
    if blank_label not in ("first", "last"):
        raise ValueError(f"blank_label must be 'first' or 'last', got {blank_label!r}")
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"data must be 3-D (T, N, C), got shape {data.shape}")
    if data.dtype.kind != "f":
        # The outputs are cast to data.dtype; an integer gradient would be meaningless.
        raise ValueError(f"data must be a floating-point array, got dtype {data.dtype}")
    T, N, C = data.shape
    if C < 1:
        raise ValueError("data must have at least one class (the blank) on axis 2")
    label = np.asarray(label)
    if label.ndim != 2 or label.shape[0] != N:
        raise ValueError(f"label must be 2-D with shape ({N}, L), got {label.shape}")
    if label.dtype.kind not in "biuf":
        raise ValueError(f"label must be numeric, got dtype {label.dtype}")
    L = label.shape[1]
    lab = label.astype(np.float64)

    # a label may be the blank itself (MXNet computes it: see ctc_loss); with 'first' only
    # through label_lengths, since 0 is also the padding
    blank, pad = (0, 0.0) if blank_label == "first" else (C - 1, -1.0)
    lo, hi = 0, C - 1
    t_len = _lengths(data_lengths, "data_lengths", N, T)
    t_len = np.full(N, T, np.int64) if t_len is None else t_len
    l_len = _lengths(label_lengths, "label_lengths", N, L)
    if l_len is None:
        # Length = index of the first padding value (L if none); later entries are ignored.
        is_pad = lab == pad
        first = is_pad.argmax(axis=1) if L else np.zeros(N, np.int64)  # argmax fails on L = 0
        l_len = np.where(is_pad.any(axis=1), first, L).astype(np.int64)
    used = np.arange(L) < l_len[:, None]
    ok = np.isfinite(lab) & (lab == np.floor(lab)) & (lab >= lo) & (lab <= hi)
    bad = used & ~ok
    if bad.any():  # the first offender in row-major order
        i, j = (int(k) for k in np.argwhere(bad)[0])
        v = lab[i, j]
        raise ValueError(
            f"label[{i}, {j}] = {float(v):g} is not a valid label for blank_label="
            f"{blank_label!r} (expected an integer in [{lo}, {hi}])")
    return data, lab, t_len, l_len, blank


def ctc_loss(
    data: np.ndarray,
    label: np.ndarray,
    data_lengths: np.ndarray | None = None,
    label_lengths: np.ndarray | None = None,
    blank_label: str = "first",
) -> tuple[np.ndarray, np.ndarray]:
    """returns (loss, grad): loss shape (N,), grad shape (T, N, C) = d sum(loss) / d data; both data.dtype

    ``data`` (T, N, C) holds unnormalised activations (log-softmax is applied
    here).  ``label`` (N, L) holds class indices; with ``blank_label='first'``
    the blank is class 0, labels are 1..C-1 and padding is 0; with ``'last'``
    the blank is C-1, labels are 0..C-2 and padding is -1.  Infeasible samples
    get loss +inf and zero grad; frames past ``data_lengths[n]`` get zero grad.

    A label equal to the blank is, as in MXNet 1.9.1, a state of l' emitting the blank
    that alpha cannot enter by a skip but may leave by one, while beta may not leave it
    by one: the loss is alpha's, the gradient MXNet's (not exactly the loss's).
    """
    data, lab, t_len, l_len, blank = validate(data, label, data_lengths, label_lengths,
                                              blank_label)
    T, N, C = data.shape
    L = lab.shape[1]

    # ---- extended label sequence l' = (blank, l1, blank, l2, ..., blank) ------
    S = 2 * L + 1
    s_len = 2 * l_len + 1                                   # per-sample |l'|
    ext = np.full((N, S), blank, np.int64)
    ext[:, 1::2] = np.where(np.arange(L) < l_len[:, None], lab, blank).astype(np.int64)
    s_valid = np.arange(S) < s_len[:, None]                 # (N, S)
    # A skip s-2 -> s is allowed only onto a real label that differs from l'_{s-2}.
    skip = np.zeros((N, S), bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        x = data.astype(np.float64)
        logp = x - x.max(axis=2, keepdims=True)             # stable log-softmax
        logp = logp - np.log(np.exp(logp).sum(axis=2, keepdims=True))
        # lp[t, n, s] = log y_t(l'_s); -inf past |l'| so no mass leaks there.
        lp = np.where(s_valid, logp[:, np.arange(N)[:, None], ext], -np.inf)

        # ---- alpha: alpha[t, n, s] includes the emission at t -----------------
        # Start from a virtual "nothing emitted" state (log 1 at s=0) so that
        # T_n = 0 with an empty label yields p = 1 and the t=0 step needs no special case.
        alpha = np.empty((T, N, S))
        a = np.concatenate([np.zeros((N, 1)), np.full((N, S - 1), -np.inf)], axis=1)
        for t in range(T):
            prev2 = np.where(skip, _shift(a, 2), -np.inf)
            new = np.logaddexp(np.logaddexp(a, _shift(a, 1)), prev2) + lp[t]
            # Freeze alpha once past the sample's length: later frames (even NaN) are ignored.
            a = np.where((t < t_len)[:, None], new, a)
            alpha[t] = a
        rows = np.arange(N)
        last = a[rows, s_len - 1]
        second = np.where(l_len > 0, a[rows, np.maximum(s_len - 2, 0)], -np.inf)
        log_p = np.logaddexp(last, second)                  # (N,)

        # ---- beta: beta[t, n, s] excludes the emission at t -------------------
        end = np.zeros((N, S), bool)
        end[rows, s_len - 1] = True
        end[rows[l_len > 0], s_len[l_len > 0] - 2] = True
        b_init = np.where(end, 0.0, -np.inf)
        # beta skips s -> s+2 from a real label that differs from l'_{s+2}: alpha's rule
        # read backwards, except for a label equal to the blank, which MXNet (warp-ctc)
        # lets alpha leave by a skip but not beta (its gradient is then not the loss's)
        skip_next = np.zeros((N, S), bool)
        skip_next[:, :-2] = (ext[:, :-2] != blank) & (ext[:, :-2] != ext[:, 2:])
        beta = np.empty((T, N, S))
        b = np.full((N, S), -np.inf)
        for t in range(T - 1, -1, -1):
            if t + 1 < T:
                e = b + lp[t + 1]                           # beta_{t+1} * y_{t+1}
                nxt2 = np.where(skip_next, _shift(e, -2), -np.inf)
                rec = np.logaddexp(np.logaddexp(e, _shift(e, -1)), nxt2)
            else:
                rec = b
            tl = t_len[:, None]
            b = np.where(t == tl - 1, b_init, np.where(t < tl - 1, rec, -np.inf))
            beta[t] = b

        # ---- gradient: y_t(k) - (1/p) sum_{s: l'_s = k} alpha_t(s) beta_t(s) ------
        occ_s = np.exp(alpha + beta - log_p[None, :, None])    # (T, N, S)
        occ_s = np.where(s_valid, occ_s, 0.0)
        onehot = (ext[:, :, None] == np.arange(C)).astype(np.float64)  # (N, S, C)
        occ = np.einsum("tns,nsc->tnc", occ_s, onehot)
        grad = np.exp(logp) - occ
        in_seq = (np.arange(T)[:, None] < t_len[None, :])[:, :, None]
        feasible = ~np.isneginf(log_p)
        grad = np.where(in_seq & feasible[None, :, None], grad, 0.0)
        loss = -log_p
    return loss.astype(data.dtype), grad.astype(data.dtype)


def validate_ctc(attrs: dict, data, label, *lengths) -> None:
    """Check CTCLoss's input values (the kernel does not report errors): ValueError naming
    the argument, with ``ctc_loss``'s messages.  ``lengths`` follow the op's active inputs:
    data_lengths if ``use_data_lengths``, then label_lengths if ``use_label_lengths``."""
    names = [k for k, on in (("data_lengths", attrs.get("use_data_lengths")),
                             ("label_lengths", attrs.get("use_label_lengths"))) if on]
    if len(lengths) != len(names):
        raise ValueError(f"CTCLoss expects {2 + len(names)} inputs with these attributes, "
                         f"got {2 + len(lengths)}")
    given = dict(zip(names, lengths))
    validate(data, label, given.get("data_lengths"), given.get("label_lengths"),
             attrs.get("blank_label", "first"))
