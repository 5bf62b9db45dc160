"""MXNet 1.9.1's loss convergence checks (tests/python/unittest/test_loss.py), written the
Gluon way and hybridized: a 128-64-N ReLU MLP and the loss, Adam at lr 0.01, 200 epochs of
batches of 10 over 20 random samples, must drive each loss below MXNet's threshold. The
training must run compiled from the first step to the last (no interpreted graph, no kernel
built after the first step: a retrace per step would show up as a slow test, not a failure).
MXNet's own checks use Module; here the network and the loss are two hybridized blocks, so
the forward and the gradient are each one compiled graph per block."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit

nd, nn, gloss = mg.nd, mg.gluon.nn, mg.gluon.loss
N, BATCH, EPOCHS = 20, 10, 200


def _mlp(n_out: int, log_softmax: bool = False) -> nn.HybridSequential:
    net = nn.HybridSequential()
    net.add(nn.Dense(128, activation="relu"), nn.Dense(64, activation="relu"), nn.Dense(n_out))
    if log_softmax:  # KLDivLoss(from_logits=True) wants log-probabilities, as in MXNet's check
        net.add(nn.HybridLambda(lambda F, x: F.log_softmax(x)))
    return net


def _train(net, loss, data, *labels, xavier=True, shuffle=False, seed=0, hybridize=True,
           epochs=EPOCHS):
    """Train net + loss as MXNet's Module.fit does (gradient of the summed loss, rescaled by
    1/batch); return the per-sample losses of the trained net over the whole data set, in
    batches of 10 as Module.score evaluates them."""
    mg.random.seed(seed)
    order_rng = np.random.RandomState(seed + 1)
    # MXNet's checks give Xavier(magnitude=2) to most nets and the default init to the others
    net.initialize(mg.init.Xavier(magnitude=2) if xavier else None)
    if hybridize:
        net.hybridize()
        loss.hybridize()
    trainer = mg.gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    arrays = [data, *labels]
    jit.reset_stats()
    kernels_after_first_step = None
    for _ in range(epochs):
        order = order_rng.permutation(N) if shuffle else np.arange(N)
        for start in range(0, N, BATCH):
            idx = order[start:start + BATCH]
            batch = [nd.array(a[idx]) for a in arrays]
            with autograd.record():
                out = loss(net(batch[0]), *batch[1:])
            out.backward()
            trainer.step(BATCH)
            if kernels_after_first_step is None:
                kernels_after_first_step = jit.stats()["kernels_compiled"]
    stats = jit.stats()
    if hybridize and epochs:
        assert stats["interpreted_calls"] == 0, stats
        assert stats["compiled_calls"] >= 2 * epochs * (N // BATCH), stats
        assert stats["kernels_compiled"] == kernels_after_first_step, (
            f"kernels were built after the first step: {stats}")
    return np.concatenate([loss(net(nd.array(data[s:s + BATCH])),
                                *[nd.array(a[s:s + BATCH]) for a in labels]).asnumpy().ravel()
                           for s in range(0, N, BATCH)])


def _uniform(rng, *shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def _regression_data(seed):
    rng = np.random.RandomState(seed)
    return _uniform(rng, N, 10), _uniform(rng, N, 1)


def _sign_data(seed):
    rng = np.random.RandomState(seed)
    x = _uniform(rng, N, 10)
    return x, np.where(_uniform(rng, N, 1) >= 0, 1.0, -1.0).astype(np.float32)


def test_softmax_ce_converges():
    rng = np.random.RandomState(10)
    x, y = _uniform(rng, N, 10), rng.randint(0, 10, size=N).astype(np.int32)
    losses = _train(_mlp(10), gloss.SoftmaxCrossEntropyLoss(), x, y)
    assert losses.mean() < 0.05, losses


def test_sigmoid_bce_converges():
    rng = np.random.RandomState(11)
    x, y = _uniform(rng, N, 20), rng.randint(2, size=(N, 1)).astype(np.float32)
    assert 0 < y.mean() < 1  # both classes present, so the net must separate them
    losses = _train(_mlp(1), gloss.SigmoidBinaryCrossEntropyLoss(), x, y)
    assert losses.mean() < 0.01, losses


def test_kl_div_on_log_softmax_converges():
    rng = np.random.RandomState(12)
    x, logits = _uniform(rng, N, 10), rng.uniform(0, 1, size=(N, 2))
    target = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    losses = _train(_mlp(2, log_softmax=True), gloss.KLDivLoss(), x, target, xavier=False)
    assert losses.mean() < 0.05, losses


@pytest.mark.parametrize("loss,threshold", [
    (gloss.L2Loss, 0.05), (gloss.L1Loss, 0.1), (gloss.HuberLoss, 0.05)])
def test_regression_losses_converge(loss, threshold):
    x, y = _regression_data(13)
    losses = _train(_mlp(1), loss(), x, y, shuffle=True)
    assert losses.mean() < threshold, losses


@pytest.mark.parametrize("loss", [gloss.HingeLoss, gloss.SquaredHingeLoss])
def test_hinge_losses_converge(loss):
    x, y = _sign_data(14)
    assert 0 < (y > 0).mean() < 1
    losses = _train(_mlp(1), loss(), x, y, shuffle=True)
    assert losses.mean() < 0.05, losses


def test_triplet_converges():
    rng = np.random.RandomState(15)
    x, pos, neg = _uniform(rng, N, 10), _uniform(rng, N, 10), _uniform(rng, N, 10)
    losses = _train(_mlp(10), gloss.TripletLoss(), x, pos, neg, shuffle=True)
    assert losses.mean() < 0.05, losses


def test_zero_sample_weight_leaves_half_the_data_unlearned():
    rng = np.random.RandomState(16)
    x, y = _uniform(rng, N, 10), rng.randint(0, 10, size=N).astype(np.int32)
    weight = np.repeat([[1.0], [0.0]], N // 2, axis=0).astype(np.float32)
    net = _mlp(10)
    _train(net, gloss.SoftmaxCrossEntropyLoss(), x, y, weight, xavier=False)
    unweighted = gloss.SoftmaxCrossEntropyLoss()(net(nd.array(x)), nd.array(y)).asnumpy()
    assert unweighted[:N // 2].mean() < 0.05, unweighted
    assert unweighted[N // 2:].mean() > 1, unweighted  # never trained on: still a guess


def test_eager_and_hybridized_training_agree():
    """Ten steps of the same training, eagerly and hybridized, end at the same weights."""
    rng = np.random.RandomState(17)
    x, y = _uniform(rng, N, 10), rng.randint(0, 10, size=N).astype(np.int32)
    nets = [_mlp(10), _mlp(10)]
    final = [_train(net, gloss.SoftmaxCrossEntropyLoss(), x, y, hybridize=h, epochs=5)
             for net, h in zip(nets, (False, True))]
    np.testing.assert_allclose(final[1], final[0], rtol=1e-4, atol=1e-5)
    start = _train(_mlp(10), gloss.SoftmaxCrossEntropyLoss(), x, y, epochs=0)
    assert np.abs(final[0] - start).max() > 1e-2  # the steps moved the weights
    for (name, a), b in zip(nets[0].collect_params().items(), nets[1].collect_params().values()):
        np.testing.assert_allclose(b.data().asnumpy(), a.data().asnumpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)
