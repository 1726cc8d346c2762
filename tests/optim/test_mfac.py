"""The MFAC torch optimizer: exact steps, state_dict resume, closure, groups, dtypes, bad input."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
from mfac_oracles import dense_fisher, relative_error

from multisource.optim import MFAC, OPTIMIZERS, make_optimizer


def _model(seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2)).to(dtype)


def _batches(count: int, dtype: torch.dtype = torch.float64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    return [
        (torch.randn(8, 5, generator=gen).to(dtype), torch.randn(8, 2, generator=gen).to(dtype)) for _ in range(count)
    ]


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _train_step(model, opt, batch):
    _backward(model, opt, batch)
    opt.step()


def _backward(model, opt, batch) -> None:
    x, y = batch
    opt.zero_grad()
    (model(x) - y).square().mean().backward()


def _gradient(model, opt, batch) -> torch.Tensor:
    """The flattened gradient of the batch loss (also left in p.grad for the next step)."""
    _backward(model, opt, batch)
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def _groups(model):
    first, last = model[0], model[2]
    return [
        {"params": list(first.parameters()), "lr": 0.05, "momentum": 0.5},
        {
            "params": list(last.parameters()),
            "lr": 0.02,
            "ngrads": 3,
            "weight_decay": 1e-2,
            "decoupled_weight_decay": True,
        },
    ]


@pytest.mark.parametrize("resume_at", [2, 9])  # during warm-up, and after the window wrapped
def test_state_dict_resume_reproduces_the_uninterrupted_run_bit_for_bit(resume_at):
    batches = _batches(16)
    kwargs = dict(lr=0.05, ngrads=4, damp=1e-3, weight_decay=1e-3)
    model = _model()
    opt = MFAC(_groups(model), **kwargs)
    for batch in batches:
        _train_step(model, opt, batch)
    uninterrupted = _flat(model)

    model = _model()
    opt = MFAC(_groups(model), **kwargs)
    for batch in batches[:resume_at]:
        _train_step(model, opt, batch)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    del model, opt
    buffer.seek(0)
    checkpoint = torch.load(buffer)
    model = _model(seed=123)
    model.load_state_dict(checkpoint["model"])
    opt = MFAC(_groups(model), **kwargs)
    opt.load_state_dict(checkpoint["opt"])
    for batch in batches[resume_at:]:
        _train_step(model, opt, batch)
    assert torch.equal(_flat(model), uninterrupted)


def test_load_state_dict_keeps_the_float64_factor_of_float32_parameters():
    model = _model(dtype=torch.float32)
    opt = MFAC(model.parameters(), lr=0.01, ngrads=4, damp=1e-3)
    for batch in _batches(6, torch.float32):
        _train_step(model, opt, batch)
    saved = copy.deepcopy(opt.state_dict())
    restored = MFAC(model.parameters(), lr=0.01, ngrads=4, damp=1e-3)
    restored.load_state_dict(saved)
    state = restored.state[next(model.parameters())]
    assert state["factor"].dtype == torch.float64 and state["grads"].dtype == torch.float32
    assert torch.equal(state["factor"], saved["state"][0]["factor"])


def test_steps_follow_the_dense_inverse_fisher_of_the_window():
    """p_t = p_{t-1} - lr F_t^-1 g_t with F_t = damp I + (1/k) sum of the last k = min(t, m) gradients."""
    model, lr, m, damp = _model(), 0.1, 3, 1e-2
    opt = MFAC(model.parameters(), lr=lr, ngrads=m, damp=damp)
    seen = []
    for batch in _batches(7):
        before = _flat(model)
        g = _gradient(model, opt, batch)
        seen.append(g)
        opt.step()
        expected = before - lr * torch.linalg.solve(dense_fisher(torch.stack(seen[-m:]), damp), g)
        assert relative_error(_flat(model), expected) < 1e-12


@pytest.mark.parametrize("decoupled", [False, True])
def test_momentum_and_weight_decay_follow_their_formulas(decoupled):
    """b_t = mu b_{t-1} + F_t^-1 g'_t, p <- (1 - lr wd [decoupled]) p - lr b_t, g' = g + wd p [coupled]."""
    model, lr, m, damp, mu, wd = _model(), 0.1, 4, 1e-2, 0.7, 0.05
    opt = MFAC(
        model.parameters(), lr=lr, ngrads=m, damp=damp, momentum=mu, weight_decay=wd, decoupled_weight_decay=decoupled
    )
    window, buf = [], torch.zeros(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    for batch in _batches(3):
        before = _flat(model)
        g = _gradient(model, opt, batch)
        g = g if decoupled else g + wd * before
        window.append(g)
        buf = mu * buf + torch.linalg.solve(dense_fisher(torch.stack(window[-m:]), damp), g)
        opt.step()
        expected = (1 - lr * wd) * before - lr * buf if decoupled else before - lr * buf
        assert relative_error(_flat(model), expected) < 1e-12


def test_sparse_gradients_are_skipped_with_a_warning():
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(10, 3, sparse=True).double()
    head = torch.nn.Linear(3, 1).double()
    before, head_before = embedding.weight.detach().clone(), head.weight.detach().clone()
    opt = MFAC([*embedding.parameters(), *head.parameters()], lr=0.1, ngrads=4, damp=1e-3)
    head(embedding(torch.tensor([1, 2, 3]))).sum().backward()
    assert embedding.weight.grad.is_sparse
    with pytest.warns(UserWarning, match="skips sparse gradients"):
        opt.step()
    assert torch.equal(embedding.weight, before)
    assert not torch.equal(head.weight, head_before)  # dense gradients still step
    assert torch.all(opt.state[embedding.weight]["grads"][0, :30] == 0)


def test_closure_returns_the_loss_and_steps_like_a_manual_backward():
    batch = _batches(1)[0]
    manual, with_closure = _model(), _model()
    opt_manual = MFAC(manual.parameters(), lr=0.1, ngrads=4, damp=1e-3)
    opt_closure = MFAC(with_closure.parameters(), lr=0.1, ngrads=4, damp=1e-3)
    _train_step(manual, opt_manual, batch)

    def closure():
        opt_closure.zero_grad()
        loss = (with_closure(batch[0]) - batch[1]).square().mean()
        loss.backward()
        return loss

    with torch.no_grad():
        loss_before_step = (with_closure(batch[0]) - batch[1]).square().mean()
    loss = opt_closure.step(closure)
    assert torch.equal(loss.detach(), loss_before_step)
    assert torch.equal(_flat(with_closure), _flat(manual))


def test_param_groups_use_their_own_learning_rate():
    model = _model()
    frozen = [p.detach().clone() for p in model[0].parameters()]
    opt = MFAC(
        [{"params": model[0].parameters(), "lr": 0.0}, {"params": model[2].parameters(), "lr": 0.1}],
        ngrads=4,
        damp=1e-3,
    )
    reference = _model()
    opt_ref = MFAC(reference[2].parameters(), lr=0.1, ngrads=4, damp=1e-3)
    for batch in _batches(5):
        _train_step(model, opt, batch)
        reference[0].zero_grad()
        _train_step(reference, opt_ref, batch)
    assert all(torch.equal(p, q) for p, q in zip(model[0].parameters(), frozen, strict=True))
    # the second group has its own window, so it moves exactly like an optimizer over it alone
    assert all(torch.equal(p, q) for p, q in zip(model[2].parameters(), reference[2].parameters(), strict=True))


def test_none_gradients_are_skipped_and_enter_the_window_as_zeros():
    model = _model()
    bias = model[2].bias
    bias.requires_grad_(False)
    before = bias.detach().clone()
    opt = MFAC(model.parameters(), lr=0.1, ngrads=4, damp=1e-3)
    _train_step(model, opt, _batches(1)[0])
    assert torch.equal(bias, before)
    window = opt.state[next(model.parameters())]["grads"]
    assert torch.all(window[0, -2:] == 0)


def test_bfloat16_parameters_keep_a_float32_window():
    model = _model(dtype=torch.bfloat16)
    opt = MFAC(model.parameters(), lr=0.05, ngrads=4, damp=1e-3)
    before = _flat(model).clone()
    for batch in _batches(3, torch.bfloat16):
        _train_step(model, opt, batch)
    state = opt.state[next(model.parameters())]
    assert state["grads"].dtype == torch.float32
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert not torch.equal(_flat(model), before)


def test_non_finite_gradient_raises_and_changes_nothing():
    model = _model()
    opt = MFAC(model.parameters(), lr=0.1, ngrads=4, damp=1e-3)
    _train_step(model, opt, _batches(1)[0])
    params = _flat(model).clone()
    state = copy.deepcopy(opt.state_dict()["state"])
    for p in model.parameters():
        p.grad = torch.full_like(p, float("nan"))
    with pytest.raises(ValueError, match="NaN or infinite"):
        opt.step()
    assert torch.equal(_flat(model), params)
    assert all(torch.equal(v, state[0][k]) for k, v in opt.state_dict()["state"][0].items())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr=-1.0), "Invalid learning rate: -1.0"),
        (dict(ngrads=0), "Invalid ngrads: 0"),
        (dict(damp=0.0), "Invalid damp: 0.0"),
        (dict(damp=-1e-5), "Invalid damp"),
        (dict(momentum=1.0), "Invalid momentum value: 1.0"),
        (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ],
)
def test_bad_hyper_parameters_get_torch_style_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MFAC(_model().parameters(), **kwargs)


def test_memory_is_reported_and_linear_in_the_window():
    model = _model(dtype=torch.float32)
    d = sum(p.numel() for p in model.parameters())
    opt = MFAC(model.parameters(), lr=0.01, ngrads=8, damp=1e-3, momentum=0.9)
    _train_step(model, opt, _batches(1, torch.float32)[0])
    window, momentum, m_by_m = 8 * d * 4, d * 4, 2 * 8 * 8 * 8
    assert opt.memory_bytes() == window + momentum + m_by_m + 3 * 8


def test_optimizers_are_available_by_name():
    assert {"mfac", "adam", "sgd"} <= set(OPTIMIZERS.names())
    assert isinstance(make_optimizer("mfac", _model().parameters(), lr=0.1, ngrads=4), MFAC)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs2'"):
        make_optimizer("lbfgs2", _model().parameters(), lr=0.1)


def _least_squares(seed: int = 0):
    """y = X w* + noise with an ill-conditioned, rotated Hessian H = X^T X / n (cond ~ 1e3)."""
    gen = torch.Generator().manual_seed(seed)
    d, n = 20, 4000
    h = torch.logspace(0, -3, d, dtype=torch.float64)
    rotation, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    X = (torch.randn(n, d, generator=gen, dtype=torch.float64) * h.sqrt()) @ rotation.T
    w_star = rotation @ (0.3 * torch.randn(d, generator=gen, dtype=torch.float64) / h.sqrt())
    y = X @ w_star + torch.randn(n, generator=gen, dtype=torch.float64)
    return X, y


def _steps_to_converge(make_optimizer_for, X, y, *, threshold: float, steps: int = 1200, batch: int = 16) -> float:
    """Steps until the excess full-batch loss falls below ``threshold`` x its initial value."""
    n, d = X.shape
    optimum = torch.linalg.lstsq(X, y.unsqueeze(1)).solution.squeeze(1)

    def loss(w):
        return 0.5 * (X @ w - y).square().mean()

    initial, best = float(loss(torch.zeros(d, dtype=X.dtype))), float(loss(optimum))
    w = torch.zeros(d, dtype=X.dtype, requires_grad=True)
    opt = make_optimizer_for([w])
    gen = torch.Generator().manual_seed(1)
    for t in range(1, steps + 1):
        idx = torch.randint(0, n, (batch,), generator=gen)
        opt.zero_grad()
        (0.5 * (X[idx] @ w - y[idx]).square().mean()).backward()
        opt.step()
        if (float(loss(w.detach())) - best) / (initial - best) < threshold:
            return t
    return math.inf


def test_mfac_converges_in_fewer_steps_than_sgd_on_an_ill_conditioned_quadratic():
    """Noisy least squares: near the optimum the empirical Fisher is ~ (noise^2 / batch) H, so M-FAC
    with a full window (m = 64 >= d = 20) acts like Newton. Each method gets the best of 3 learning
    rates. Measured: M-FAC ~3x fewer steps than SGD (see docs/mfac.md)."""
    X, y = _least_squares()
    sgd = min(
        _steps_to_converge(lambda p, lr=lr: torch.optim.SGD(p, lr=lr), X, y, threshold=0.05) for lr in (0.3, 1.0, 1.8)
    )
    mfac = min(
        _steps_to_converge(lambda p, lr=lr: MFAC(p, lr=lr, ngrads=64, damp=1e-7), X, y, threshold=0.05)
        for lr in (0.003, 0.01, 0.03)
    )
    print(f"steps to 5% excess loss: SGD {sgd}, M-FAC {mfac}, ratio {sgd / mfac:.1f}")
    assert mfac * 2 <= sgd


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_cuda_run_matches_the_cpu_run():
    runs = {}
    for device in ("cpu", "cuda"):
        model = _model().to(device)
        opt = MFAC(model.parameters(), lr=0.05, ngrads=4, damp=1e-3, momentum=0.5)
        for x, y in _batches(10):
            _train_step(model, opt, (x.to(device), y.to(device)))
        runs[device] = _flat(model).cpu()
        assert opt.state[next(model.parameters())]["factor"].device.type == device
    assert relative_error(runs["cuda"], runs["cpu"]) < 1e-10
