"""run_federated: batched local training equals a plain per-client loop, the server step equals its
closed form, runs are deterministic and resume from a checkpoint as if never interrupted."""

import copy
import dataclasses
import itertools

import numpy as np
import pytest
import torch

from multisource.aggregation import flatten_parameters, unflatten_parameters
from multisource.data import make_multisource
from multisource.federated import FederatedConfig, MLPFactory, run_federated
from multisource.federated.clients import ClientData
from multisource.optim import make_optimizer


@pytest.fixture(autouse=True)
def single_thread(one_torch_thread):
    """Every test here on one torch thread (tests/conftest.py)."""


@pytest.fixture(scope="module")
def digits():
    return make_multisource("digits", n_sources=10, m=60, seed=0)


def _config(**changes):
    base = {"rounds": 3, "local_steps": 3, "batch_size": 16, "lr": 0.1, "device": "cpu"}
    return FederatedConfig(**{**base, **changes})


def _round_one_by_hand(dataset, config, seed):
    """Round 1 by hand: the same draws as run_federated (Byzantine set, model init, clients, batch
    indices), then one nn.Module and one torch optimizer per honest client trained in a plain loop
    on its own rows. Returns the initial parameters, the Byzantine ids and {client: update}."""
    rng = np.random.default_rng(seed)
    bad = np.sort(rng.choice(dataset.n_sources, size=config.n_bad, replace=False))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(2**63 - 1)))
        module = MLPFactory()(dataset.n_features, dataset.n_classes)
    theta0 = flatten_parameters(module)
    data = ClientData.from_arrays(
        dataset.X, dataset.y, dataset.source, dataset.n_sources, device=torch.device("cpu"), dtype=torch.float32
    )
    clients = np.sort(rng.choice(dataset.n_sources, size=config.clients_per_round(dataset.n_sources), replace=False))
    honest = clients[~np.isin(clients, bad)]
    batches = data.batch_indices(honest, config.local_steps, config.batch_size, rng)
    updates = {}
    for row, c in enumerate(honest):
        X_c, y_c = dataset.source_data(int(c))
        model = copy.deepcopy(module)
        opt = make_optimizer(config.optimizer, model.parameters(), lr=config.lr, **dict(config.optimizer_kwargs))
        for t in range(config.local_steps):
            idx = batches[row, t]
            opt.zero_grad()
            x = torch.tensor(X_c[idx], dtype=torch.float32)
            torch.nn.functional.cross_entropy(model(x), torch.tensor(y_c[idx])).backward()
            opt.step()
        updates[int(c)] = flatten_parameters(model) - theta0
    return theta0, bad, updates


@pytest.mark.parametrize(("optimizer", "kwargs"), [("sgd", {}), ("adam", {}), ("mfac", {"ngrads": 4, "damp": 1e-2})])
def test_batched_local_training_equals_a_per_client_loop(digits, optimizer, kwargs):
    # FedAvg, server_lr 1: the new global model is the mean of the clients' local models.
    config = _config(rounds=1, optimizer=optimizer, lr=0.01, optimizer_kwargs=kwargs)
    result = run_federated(digits, config=config, seed=3)
    theta0, _, updates = _round_one_by_hand(digits, config, seed=3)
    torch.testing.assert_close(
        result.params, theta0 + torch.stack(list(updates.values())).mean(dim=0), rtol=1e-5, atol=1e-6
    )
    assert len(updates) == 10


def test_sign_flip_against_the_mean_has_its_closed_form(digits):
    # n_h = 7 honest updates with mean g and n_b = 3 copies of -g: the mean is (7 - 3) / 10 g = 0.4 g,
    # and each Byzantine update lies |-g - 0.4 g| = 1.4 |g| from it.
    config = _config(rounds=1, n_bad=3, attack="sign_flip", server_lr=0.5)
    result = run_federated(digits, config=config, seed=1)
    theta0, bad, updates = _round_one_by_hand(digits, config, seed=1)
    g = torch.stack(list(updates.values())).mean(dim=0)
    torch.testing.assert_close(result.params, theta0 + 0.5 * 0.4 * g, rtol=1e-5, atol=1e-6)
    metrics = result.rounds[1]
    assert metrics.byzantine == tuple(bad.tolist()) == tuple(np.flatnonzero(result.bad).tolist())
    for c, d in zip(metrics.clients, metrics.distances, strict=True):
        expected = 1.4 * g if c in bad else updates[c] - 0.4 * g
        assert d == pytest.approx(float(torch.linalg.vector_norm(expected)), rel=1e-4)


def test_same_seed_same_run_other_seed_other_run(digits):
    config = _config(n_bad=2, attack="gaussian", aggregator="coordinate_median", sampling=0.8)
    a, b = run_federated(digits, config=config, seed=7), run_federated(digits, config=config, seed=7)
    c = run_federated(digits, config=config, seed=8)
    np.testing.assert_equal(a.rows(), b.rows())
    assert torch.equal(a.params, b.params)
    assert not torch.equal(a.params, c.params)
    assert all(len(r.clients) == 8 for r in a.rounds[1:])


class _StopError(Exception):
    pass


@pytest.mark.parametrize(("optimizer", "kwargs"), [("adam", {}), ("mfac", {"ngrads": 4, "damp": 1e-2})])
def test_a_killed_run_resumes_to_the_uninterrupted_result(digits, tmp_path, optimizer, kwargs):
    config = _config(
        rounds=5,
        optimizer=optimizer,
        lr=0.01,
        optimizer_kwargs=kwargs,
        n_bad=2,
        attack="gaussian",
        aggregator="trimmed_mean",
        pre=("bucketing",),
        sampling=0.8,
    )
    full = run_federated(digits, config=config, seed=0)

    def stop_at_round_3(metrics):
        if metrics.round == 3:
            raise _StopError

    path = tmp_path / "run.pt"
    with pytest.raises(_StopError):
        run_federated(digits, config=config, seed=0, checkpoint=path, callback=stop_at_round_3)
    seen = []
    resumed = run_federated(digits, config=config, seed=0, checkpoint=path, callback=lambda m: seen.append(m.round))
    assert seen == [3, 4, 5]  # rounds 1..2 were checkpointed; round 3's callback raised, so it runs again
    np.testing.assert_equal(resumed.rows(), full.rows())  # NaN == NaN (round 0 has no train loss)
    assert torch.equal(resumed.params, full.params)


def test_a_checkpoint_of_another_configuration_is_refused(digits, tmp_path):
    path = tmp_path / "run.pt"
    run_federated(digits, config=_config(rounds=1), seed=0, checkpoint=path)
    with pytest.raises(ValueError, match="belongs to another configuration"):
        run_federated(digits, config=_config(rounds=1, lr=0.2), seed=0, checkpoint=path)


def test_krum_gives_distance_zero_to_the_client_it_selects(digits):
    # Far Gaussian noise: Krum selects an honest client, at distance 0 from the aggregate.
    result = run_federated(digits, config=_config(n_bad=2, attack="gaussian", aggregator="krum"), seed=0)
    for r in result.rounds[1:]:
        d = np.array(r.distances)
        assert np.sum(d == 0) == 1 and r.clients[int(np.argmin(d))] not in r.byzantine


def test_identical_ipm_colluders_win_krum(digits):
    # The n_bad IPM clients send the same vector: their mutual distance 0 gives them the best Krum
    # score, so Krum picks -epsilon * mean (Xie et al. 2020, Section 4) and both sit at distance 0.
    result = run_federated(digits, config=_config(n_bad=2, attack="ipm", aggregator="krum"), seed=0)
    for r in result.rounds[1:]:
        d = dict(zip(r.clients, r.distances, strict=True))
        assert all(d[c] == 0 for c in r.byzantine)


def test_infinite_updates_are_dropped_and_recorded_or_raise(digits):
    result = run_federated(digits, config=_config(n_bad=3, attack="infinity"), seed=0)
    bad = tuple(np.flatnonzero(result.bad).tolist())
    assert all(r.removed == bad for r in result.rounds[1:])
    assert np.isfinite(result.params.numpy()).all()
    assert result.final_accuracy > result.rounds[0].test_accuracy + 0.1  # the honest mean keeps training
    with pytest.raises(ValueError, match="contain NaN or infinite values"):
        run_federated(digits, config=_config(n_bad=3, attack="infinity", nonfinite="raise"), seed=0)


def test_a_round_without_honest_clients_is_skipped_and_recorded(digits):
    # One client per round, 4 of 10 Byzantine: some rounds hold only a Byzantine client.
    result = run_federated(digits, config=_config(rounds=12, n_bad=4, attack="sign_flip", sampling=0.1), seed=0)
    skipped = [r for r in result.rounds[1:] if r.skipped]
    assert skipped and all(r.byzantine == r.clients for r in skipped)
    for r in skipped:
        assert r.test_accuracy == result.rounds[r.round - 1].test_accuracy


def test_data_attacked_clients_train_on_their_corrupted_labels(digits):
    config = _config(rounds=4, n_bad=4, data_attack="label_flip", data_attack_params={"p": 1.0})
    result = run_federated(digits, config=config, seed=0)
    assert result.bad.sum() == 4
    # they train (the attack is in their data): every client has an update, none removed
    assert all(len(r.distances) == 10 and not r.removed for r in result.rounds[1:])


def test_fltrust_uses_the_servers_root_update(digits):
    result = run_federated(digits, config=_config(n_bad=3, attack="sign_flip", aggregator="fltrust"), seed=0)
    clean = run_federated(digits, config=_config(), seed=0)
    mean = run_federated(digits, config=_config(n_bad=3, attack="sign_flip"), seed=0)
    assert result.final_accuracy > mean.final_accuracy
    assert clean.final_accuracy > 0.5


def test_mnist1d_learns_above_chance():
    data = make_multisource("mnist1d", n_sources=10, m=150, seed=0)
    result = run_federated(
        data, config=_config(rounds=6, local_steps=10, lr=0.05, optimizer="adam", batch_size=32), seed=0
    )
    assert result.final_accuracy > 0.25 > result.rounds[0].test_accuracy


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"aggregator": "krum", "n_bad": 4, "attack": "ipm"}, ValueError, r"krum needs n > 2 n_bad \+ 2"),
        ({"n_bad": 10, "attack": "ipm"}, ValueError, r"n_bad must be < N = 10 clients, got 10"),
    ],
)
def test_a_rule_that_cannot_hold_is_refused_before_any_work(digits, changes, error, match):
    with pytest.raises(error, match=match):
        run_federated(digits, config=_config(**changes), seed=0)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"rounds": 0}, ValueError, r"rounds must be >= 1, got 0"),
        ({"sampling": 0.0}, ValueError, r"sampling must lie in \(0.0, 1.0\]"),
        ({"optimizer": "adamx"}, ValueError, r"unknown optimizer 'adamx'"),
        ({"aggregator": "krun"}, ValueError, r"unknown aggregator 'krun'"),
        ({"aggregator_params": {"beta": 1}}, ValueError, r"mean has no option\(s\) \['beta'\]"),
        ({"pre": ("nnx",)}, ValueError, r"unknown pre-aggregator 'nnx'"),
        ({"pre": "nnm"}, TypeError, r"pre must be a list"),
        ({"n_bad": 2}, ValueError, r"n_bad = 2 Byzantine clients need an attack or a data_attack"),
        ({"attack": "ipm", "data_attack": "label_flip"}, ValueError, r"set attack or data_attack, not both"),
        ({"attack": "ipm", "attack_params": {"eps": 1.0}}, ValueError, r"has no option\(s\) \['eps'\]"),
        ({"data_attack": "label_flop"}, ValueError, r"unknown attack 'label_flop'"),
        ({"nonfinite": "keep"}, ValueError, r"nonfinite must be one of \('drop', 'raise'\)"),
        ({"lr": -1.0}, ValueError, r"lr must lie in \(0.0, inf"),
    ],
)
def test_bad_config_gets_an_error_naming_the_field(changes, error, match):
    with pytest.raises(error, match=match):
        _config(**changes)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_cuda_run_matches_the_cpu_run(digits):
    config = _config(n_bad=2, attack="alie", aggregator="geometric_median", pre=("nnm",))
    cpu = run_federated(digits, config=config, seed=0)
    cuda = run_federated(digits, config=dataclasses.replace(config, device="cuda"), seed=0)
    assert cuda.params.device.type == "cuda"
    torch.testing.assert_close(cuda.params.cpu(), cpu.params, rtol=1e-3, atol=1e-4)
    assert abs(cuda.final_accuracy - cpu.final_accuracy) < 0.02


def test_unflatten_of_the_result_gives_a_usable_module(digits):
    result = run_federated(digits, config=_config(rounds=2), seed=0)
    module = unflatten_parameters(MLPFactory()(digits.n_features, digits.n_classes), result.params)
    with torch.no_grad():
        pred = module(torch.tensor(digits.X_test, dtype=torch.float32)).argmax(dim=1).numpy()
    assert np.mean(pred == digits.y_test) == pytest.approx(result.final_accuracy)


def test_centered_clipping_steps_at_most_tau_from_the_previous_aggregate(digits):
    # tau far below every |u_i - v|: one clipped step v + mean_i tau (u_i - v) / |u_i - v| lies within
    # tau of its centre v. Round 1 starts from 0; later rounds from the previous aggregate, so the
    # aggregates walk (each within tau of the last) and leave the ball of radius tau around 0, which
    # a zero centre in every round would forbid.
    tau = 1e-3
    config = _config(aggregator="centered_clipping", aggregator_params={"tau": tau})
    theta = [_round_one_by_hand(digits, config, seed=0)[0]]
    theta += [run_federated(digits, config=dataclasses.replace(config, rounds=r), seed=0).params for r in (1, 2, 3, 4)]
    aggregates = [b - a for a, b in itertools.pairwise(theta)]  # server_lr = 1
    centres = [torch.zeros_like(aggregates[0]), *aggregates[:-1]]
    for aggregate, centre in zip(aggregates, centres, strict=True):
        assert float(torch.linalg.vector_norm(aggregate - centre)) <= tau * (1 + 1e-3)
    assert float(torch.linalg.vector_norm(aggregates[-1])) > 1.5 * tau


def test_centered_clipping_differs_from_the_mean_under_attack(digits):
    # Gaussian updates of std 1 per coordinate are far outside tau = 0.5 of the honest ones (norm < 1):
    # the mean follows them (26 % after 5 rounds), centered clipping bounds each one's pull to tau / n
    # per round (45 %; 63 % without an attack).
    attacked = {"n_bad": 3, "attack": "gaussian", "rounds": 5}
    mean = run_federated(digits, config=_config(**attacked), seed=0)
    clipped = run_federated(
        digits, config=_config(aggregator="centered_clipping", aggregator_params={"tau": 0.5}, **attacked), seed=0
    )
    assert not torch.equal(mean.params, clipped.params)
    assert clipped.final_accuracy > mean.final_accuracy + 0.1


def test_a_centered_clipping_run_resumes_with_its_centre(digits, tmp_path):
    config = _config(rounds=4, aggregator="centered_clipping", aggregator_params={"tau": 0.05}, n_bad=2, attack="alie")
    full = run_federated(digits, config=config, seed=0)

    def stop_at_round_3(metrics):
        if metrics.round == 3:
            raise _StopError

    path = tmp_path / "run.pt"
    with pytest.raises(_StopError):
        run_federated(digits, config=config, seed=0, checkpoint=path, callback=stop_at_round_3)
    resumed = run_federated(digits, config=config, seed=0, checkpoint=path)
    assert torch.equal(resumed.params, full.params)  # round 3 centred at round 2's aggregate, as uninterrupted
