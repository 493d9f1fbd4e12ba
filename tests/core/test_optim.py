"""fast_adam: the fused kernel where the device has one, the same update rule either way."""

import pytest
import torch

from pyrodisent.optim import fast_adam


def _one_step(**kwargs):
    torch.manual_seed(0)
    theta = torch.nn.Parameter(torch.randn(1000))
    start = theta.detach().clone()
    grad = torch.randn(1000)
    opt = fast_adam([theta], lr=0.01, **kwargs)
    theta.grad = grad.clone()
    opt.step()
    return opt, start, grad, theta.detach()


def test_first_adam_step_is_lr_times_g_over_abs_g_plus_eps():
    # Kingma & Ba Alg. 1 at t = 1: m̂ = g, v̂ = g², so θ₁ = θ₀ − lr·g / (|g| + ε).
    opt, start, grad, theta = _one_step()
    expected = start - 0.01 * grad / (grad.abs() + 1e-8)
    assert torch.allclose(theta, expected, atol=1e-6)
    assert isinstance(opt, torch.optim.Adam) and not isinstance(opt, torch.optim.AdamW)


def test_adamw_decays_the_weights_before_the_adam_step():
    # Loshchilov & Hutter: θ₁ = θ₀(1 − lr·λ) − lr·g / (|g| + ε).
    opt, start, grad, theta = _one_step(decoupled_weight_decay=True, weight_decay=0.5)
    expected = start * (1 - 0.01 * 0.5) - 0.01 * grad / (grad.abs() + 1e-8)
    assert torch.allclose(theta, expected, atol=1e-6)
    assert isinstance(opt, torch.optim.AdamW)


def test_fused_on_cpu_where_torch_has_the_kernel():
    opt, *_ = _one_step()
    major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    if (major, minor) >= (2, 4):  # torch added the CPU kernel in 2.4
        assert opt.defaults["fused"] is True
    else:
        assert opt.defaults["foreach"] is True


def test_falls_back_to_foreach_where_fused_is_refused(monkeypatch):
    real = torch.optim.Adam

    class NoFusedAdam(real):
        def __init__(self, params, fused=None, **kwargs):
            if fused:
                raise RuntimeError(
                    "`fused=True` requires all the params to be on a supported device"
                )
            super().__init__(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", NoFusedAdam)
    opt, start, grad, theta = _one_step()
    assert opt.defaults["foreach"] is True and not opt.defaults.get("fused")
    assert torch.allclose(theta, start - 0.01 * grad / (grad.abs() + 1e-8), atol=1e-6)


def test_bad_options_still_raise():
    with pytest.raises((ValueError, TypeError)):
        fast_adam([torch.nn.Parameter(torch.zeros(2))], lr=-1.0)
