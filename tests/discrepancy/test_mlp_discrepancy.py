import numpy as np
import pytest
import torch

from multisource.data import MultiSourceDataset
from multisource.discrepancy import pairwise
from multisource.discrepancy.mlp import SlotProblems, init_mlp_stack, label_flip_slots, mlp_logits, train_mlp_stack


def _one_block_per_net(X, labels, weights) -> SlotProblems:
    """Net b trained on its own rows X[b] alone: B blocks of one slot each."""
    B = X.shape[0]
    return SlotProblems(X=X, labels=labels[:, None], weights=weights[:, None], net=torch.arange(B)[:, None], n_nets=B)


def _two_sources(X_a, y_a, X_b, y_b, n_classes=2) -> MultiSourceDataset:
    return MultiSourceDataset(
        X=np.vstack([X_a, X_b]),
        y=np.concatenate([y_a, y_b]),
        source=np.repeat([0, 1], [len(y_a), len(y_b)]),
        X_test=X_a[:2],
        y_test=y_a[:2],
        n_classes=n_classes,
        n_sources=2,
    )


@pytest.mark.slow
def test_mlp_finds_the_xor_discrepancy_that_linear_classifiers_miss():
    # S_a labels the quadrants by XOR, S_b by its complement: h = XOR is right on S_a and wrong on
    # S_b (disc = 1), while a linear classifier fits XOR on about two thirds of the plane at best.
    rng = np.random.default_rng(0)
    X_a, X_b = rng.uniform(-1, 1, (100, 2)), rng.uniform(-1, 1, (100, 2))
    xor = lambda X: ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)  # noqa: E731
    ds = _two_sources(X_a, xor(X_a), X_b, 1 - xor(X_b))
    assert pairwise(ds, estimator="linear", l2=1e-3)[0, 1] < 0.5
    assert pairwise(ds, estimator="mlp", hidden=16, lr=0.05, max_epochs=500, seed=0)[0, 1] > 0.9


@pytest.mark.slow
def test_mlp_disc_of_a_multiclass_source_against_its_relabelled_copy_is_near_one():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 2))
    y = np.digitize(X[:, 0], [-0.5, 0.5])  # three classes, separable by two thresholds
    ds = _two_sources(X, y, X, (y + 1) % 3, n_classes=3)
    assert pairwise(ds, estimator="mlp", lr=0.05, max_epochs=300, seed=0)[0, 1] > 0.9


def test_the_same_seed_gives_the_same_mlp_matrix():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((60, 3)), rng.integers(0, 2, 60)
    ds = MultiSourceDataset(
        X=X, y=y, source=np.repeat(np.arange(3), 20), X_test=X[:2], y_test=y[:2], n_classes=2, n_sources=3
    )
    first = pairwise(ds, estimator="mlp", max_epochs=30, seed=7)
    np.testing.assert_array_equal(pairwise(ds, estimator="mlp", max_epochs=30, seed=7), first)


def test_stacked_adam_training_equals_a_loop_of_per_net_torch_trainings():
    # Adam is coordinate-wise: one optimizer over the stacked tensors is one Adam per net.
    rng = np.random.default_rng(3)
    B, n, d, h, K = 3, 40, 4, 5, 3
    X = torch.tensor(rng.standard_normal((B, n, d)), dtype=torch.float32)
    labels = torch.tensor(rng.integers(0, K, (B, n)))
    weights = torch.tensor(rng.random((B, n)) / n, dtype=torch.float32)
    params = init_mlp_stack(B, d, h, K, torch.Generator().manual_seed(0), torch.device("cpu"))
    start = [p.detach().clone() for p in params]
    problems = _one_block_per_net(X, labels, weights)
    trained = train_mlp_stack(params, problems, lr=0.01, max_epochs=40, patience=10**6, tol=-np.inf)
    for p, p_start in zip(params, start, strict=True):  # the initial weights are left as they were
        torch.testing.assert_close(p, p_start, atol=0, rtol=0)
    for net in range(B):
        model = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, K))
        with torch.no_grad():
            model[0].weight.copy_(start[0][net].T), model[0].bias.copy_(start[1][net, 0])
            model[2].weight.copy_(start[2][net].T), model[2].bias.copy_(start[3][net, 0])
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(39):  # the last epoch evaluates; the best iterate is the 40th
            loss = (
                weights[net] * torch.nn.functional.cross_entropy(model(X[net]), labels[net], reduction="none")
            ).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            expected = model(X[net])
        torch.testing.assert_close(mlp_logits(trained, X)[net].detach(), expected, atol=1e-5, rtol=1e-4)


def test_early_stopping_never_returns_a_net_worse_than_its_initial_one():
    rng = np.random.default_rng(4)
    X = torch.tensor(rng.standard_normal((2, 30, 2)), dtype=torch.float32)
    labels, weights = torch.tensor(rng.integers(0, 2, (2, 30))), torch.full((2, 30), 1 / 30)
    params = init_mlp_stack(2, 2, 4, 2, torch.Generator().manual_seed(1), torch.device("cpu"))

    def loss(p):
        ce = torch.nn.functional.cross_entropy(mlp_logits(p, X).transpose(1, 2), labels, reduction="none")
        return (weights * ce).sum(1).detach()

    before = loss(params)
    # A step size this large makes Adam oscillate; the net returned is the best one visited.
    best = train_mlp_stack(params, _one_block_per_net(X, labels, weights), lr=5.0, max_epochs=30, patience=30, tol=0.0)
    assert torch.all(loss(best) <= before) and torch.any(loss(best) < before)


@pytest.mark.parametrize(
    "options, match",
    [({"hidden": 0}, "hidden must be >= 1"), ({"lr": 0.0}, "lr must lie in"), ({"patience": 0}, "patience")],
)
def test_bad_mlp_options_are_refused_by_name(options, match):
    X = np.random.default_rng(5).standard_normal((10, 2))
    ds = _two_sources(X[:5], np.arange(5) % 2, X[5:], np.arange(5) % 2)
    with pytest.raises(ValueError, match=match):
        pairwise(ds, estimator="mlp", **options)


def _sequential_from(start, net):
    d, h = start[0].shape[1:]
    model = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, start[2].shape[2]))
    with torch.no_grad():
        model[0].weight.copy_(start[0][net].T), model[0].bias.copy_(start[1][net, 0])
        model[2].weight.copy_(start[2][net].T), model[2].bias.copy_(start[3][net, 0])
    return model


def test_batched_mfac_equals_the_library_mfac_optimizer_on_each_net_alone():
    # Oracle: multisource.optim.MFAC (one sliding window per optimizer) on a torch.nn.Sequential per net.
    from multisource.optim import MFAC

    rng = np.random.default_rng(6)
    B, n, d, h, K = 3, 30, 4, 5, 2
    X = torch.tensor(rng.standard_normal((B, n, d)), dtype=torch.float32)
    labels = torch.tensor(rng.integers(0, K, (B, n)))
    weights = torch.full((B, n), 1.0 / n)
    params = init_mlp_stack(B, d, h, K, torch.Generator().manual_seed(2), torch.device("cpu"))
    start = [p.detach().clone() for p in params]
    # 12 steps with a window of 5: the window fills, then slides.
    trained = train_mlp_stack(
        params,
        _one_block_per_net(X, labels, weights),
        lr=0.02,
        max_epochs=13,
        patience=10**6,
        tol=-np.inf,
        optimizer="mfac",
        ngrads=5,
        damp=0.05,
    )
    for net in range(B):
        model = _sequential_from(start, net)
        optimizer = MFAC(model.parameters(), lr=0.02, ngrads=5, damp=0.05)
        for _ in range(12):
            loss = (
                weights[net] * torch.nn.functional.cross_entropy(model(X[net]), labels[net], reduction="none")
            ).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            expected = model(X[net])
        torch.testing.assert_close(mlp_logits(trained, X)[net].detach(), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("optimizer", ["adam", "mfac"])
def test_a_pair_net_trained_alone_equals_the_same_net_trained_among_others(optimizer):
    # Per-pair independence with early stopping on: the nets stop at different epochs; a net's result
    # is frozen when it stops, so the others training on must not change it. Together, the pairs share
    # their sources' GEMMs (three slots per source); alone, a pair has one slot per source. In float64:
    # alone and together, a pair's rows sit at other offsets of the batched tensors, and torch's
    # vectorised elementwise kernels round a tensor's tail differently from its body, so float32
    # results agree only to rounding, which Adam and the early-stopping threshold can amplify.
    rng = np.random.default_rng(7)
    N, m, d, h = 4, 20, 3, 6
    X = torch.tensor(rng.standard_normal((N, m, d)), dtype=torch.float64)
    y = rng.integers(0, 2, (N, m))
    y[0] = X[0, :, 0].numpy() > 0  # pairs with an easy source keep improving longest
    weights = np.full((N, m), 1.0 / m)
    a, b = np.triu_indices(N, 1)
    start = init_mlp_stack(len(a), d, h, 2, torch.Generator().manual_seed(3), torch.device("cpu"))
    options = dict(lr=0.05, max_epochs=400, patience=5, tol=1e-3, optimizer=optimizer)
    fresh = lambda rows: [p.detach()[rows].double() for p in start]  # noqa: E731
    together = train_mlp_stack(fresh(slice(None)), label_flip_slots(X, y, weights, a, b, 2)[0], **options)
    for k in range(len(a)):
        pair = slice(k, k + 1)
        alone = train_mlp_stack(fresh(pair), label_flip_slots(X, y, weights, a[pair], b[pair], 2)[0], **options)
        for p_alone, p_together in zip(alone, together, strict=True):
            torch.testing.assert_close(p_alone[0], p_together[k], atol=1e-9, rtol=1e-9)


def test_pair_slots_train_each_pair_as_a_torch_net_on_its_pooled_label_flip_sample():
    # Oracle for the slot layout: every net of label_flip_slots (two orientations per pair for K = 3,
    # sources of unequal sizes, so padded) against a torch.nn.Sequential trained on the pair's pooled
    # sample, S_a kept and S_b flipped (net 2k) or S_a flipped and S_b kept (net 2k + 1).
    rng = np.random.default_rng(9)
    sizes, d, h, K = np.array([12, 20, 16]), 4, 5, 3
    M = sizes.max()
    X = torch.tensor(rng.standard_normal((3, M, d)), dtype=torch.float32)
    y = rng.integers(0, K, (3, M))
    real = np.arange(M) < sizes[:, None]
    weights = np.where(real, 1.0 / sizes[:, None], 0.0)
    a, b = np.triu_indices(3, 1)
    problems, _ = label_flip_slots(X, y, weights, a, b, K)
    params = init_mlp_stack(problems.n_nets, d, h, K, torch.Generator().manual_seed(4), torch.device("cpu"))
    start = [p.detach().clone() for p in params]
    trained = train_mlp_stack(params, problems, lr=0.01, max_epochs=40, patience=10**6, tol=-np.inf)
    flip = lambda labels: (labels + 1) % K  # noqa: E731
    for net in range(problems.n_nets):
        i, j = a[net // 2], b[net // 2]
        rows_i, rows_j = X[i, : sizes[i]], X[j, : sizes[j]]
        y_i, y_j = y[i, : sizes[i]], y[j, : sizes[j]]
        targets = np.concatenate([y_i, flip(y_j)] if net % 2 == 0 else [flip(y_i), y_j])
        inputs, targets = torch.cat([rows_i, rows_j]), torch.tensor(targets)
        w = torch.tensor(np.repeat([1.0 / sizes[i], 1.0 / sizes[j]], [sizes[i], sizes[j]]), dtype=torch.float32)
        model = _sequential_from(start, net)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(39):
            loss = (w * torch.nn.functional.cross_entropy(model(inputs), targets, reduction="none")).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            expected = model(inputs)
        got = mlp_logits([p[net : net + 1] for p in trained], inputs[None])[0]
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_mfac_pair_classifiers_are_as_accurate_as_adams():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    rng = np.random.default_rng(0)
    N, m = 8, 100
    rows = np.stack([rng.choice(len(data.target), m, replace=False) for _ in range(N)])
    X = torch.tensor((data.data - data.data.mean(0)) / data.data.std(0), dtype=torch.float32)[rows]
    a, b = np.triu_indices(N, 1)
    problems, _ = label_flip_slots(X, data.target[rows], np.full((N, m), 1.0 / m), a, b, 2)
    inputs = torch.cat([X[a], X[b]], 1)
    labels = torch.tensor(np.concatenate([data.target[rows[a]], 1 - data.target[rows[b]]], 1))
    accuracy = {}
    for optimizer in ("adam", "mfac"):
        params = init_mlp_stack(len(a), X.shape[-1], 16, 2, torch.Generator().manual_seed(0), torch.device("cpu"))
        best = train_mlp_stack(params, problems, lr=0.01, max_epochs=300, patience=20, tol=1e-4, optimizer=optimizer)
        with torch.no_grad():
            accuracy[optimizer] = (mlp_logits(best, inputs).argmax(-1) == labels).double().mean(1).numpy()
    # Both well above the constant classifier's 0.5 and, on average over the 28 pairs, within 1 point.
    assert accuracy["adam"].mean() > 0.85
    assert abs(accuracy["mfac"].mean() - accuracy["adam"].mean()) < 0.01


def test_mfac_is_available_through_pairwise_and_a_bad_optimizer_is_refused():
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((60, 3)), rng.integers(0, 2, 60)
    ds = MultiSourceDataset(
        X=X, y=y, source=np.repeat(np.arange(3), 20), X_test=X[:2], y_test=y[:2], n_classes=2, n_sources=3
    )
    disc = pairwise(ds, estimator="mlp", optimizer="mfac", max_epochs=30, seed=1)
    assert disc.shape == (3, 3) and np.all((disc >= 0) & (disc <= 1))
    with pytest.raises(ValueError, match=r"optimizer must be one of \['adam', 'mfac'\], got 'sgd'"):
        pairwise(ds, estimator="mlp", optimizer="sgd")
    with pytest.raises(ValueError, match="damp must lie in"):
        pairwise(ds, estimator="mlp", optimizer="mfac", damp=0.0)
