"""Ada-GVAE and Ada-ML-VAE (Locatello et al. 2020, §4): the aggregates against hand-computed
cases, the adaptive threshold on pairs with known shared dims, the objective, Pyro, configs."""

import math
from pathlib import Path

import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from torch import nn

from pyrodisent import DisentELBO, UnsupportedPosteriorError, get_component, regularizer
from pyrodisent.engine import ConfigError, load_run, train
from pyrodisent.engine.checkpoint import load_checkpoint
from pyrodisent.engine.config import load_config
from pyrodisent.models import AdaGVAE, AdaMLVAE
from pyrodisent.models.weak import adaptive_shared_dims, arithmetic_mean, product_of_gaussians

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHAPE = (1, 8, 8)


def _pairs(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 2, *SHAPE, generator=g) > 0.5).float()


def _model(cls=AdaGVAE, **kw):
    torch.manual_seed(0)
    return cls(SHAPE, 4, "mlp", hidden_width=16, **kw)


class _FixedEncoder(nn.Module):
    """Returns preset posterior parameters [2B, 2D] (raw scale through softplus⁻¹)."""

    def __init__(self, loc, scale):
        super().__init__()
        raw = torch.log(torch.expm1(scale - 1e-5))  # split_posterior_parameters adds 1e-5
        self.out = torch.cat([loc, raw], -1)

    def forward(self, x):
        return self.out


def test_gvae_aggregate_is_the_arithmetic_mean_of_means_and_variances():
    loc, scale = arithmetic_mean(torch.tensor([1.0, -2.0]), torch.tensor([1.0, 2.0]),
                                 torch.tensor([3.0, 0.0]), torch.tensor([math.sqrt(3.0), 0.0]))
    assert torch.allclose(loc, torch.tensor([2.0, -1.0]))
    assert torch.allclose(scale.square(), torch.tensor([2.0, 2.0]))  # (1 + 3)/2, (4 + 0)/2


def test_ml_vae_aggregate_is_the_product_of_the_gaussians():
    # N(0, 1)·N(3, 2): precision 1 + 1/2 = 3/2, variance 2/3, mean (0·1 + 3·½)/(3/2) = 1
    loc, scale = product_of_gaussians(torch.tensor([0.0]), torch.tensor([1.0]),
                                      torch.tensor([3.0]), torch.tensor([math.sqrt(2.0)]))
    assert torch.allclose(loc, torch.tensor([1.0])) and torch.allclose(scale.square(), torch.tensor([2 / 3]))
    # the normalized product: log N(z; μ¹, σ¹) + log N(z; μ², σ²) − log N(z; μ, σ) is constant in z
    l1, s1, l2, s2 = torch.randn(4, 5, generator=torch.Generator().manual_seed(0)).unbind()
    s1, s2 = s1.exp(), s2.exp()
    loc, scale = product_of_gaussians(l1, s1, l2, s2)
    z = torch.linspace(-3, 3, 7).view(-1, 1)
    normal = torch.distributions.Normal
    gap = normal(l1, s1).log_prob(z) + normal(l2, s2).log_prob(z) - normal(loc, scale).log_prob(z)
    assert torch.allclose(gap, gap[:1].expand_as(gap), atol=1e-4)
    # equal experts: the mean stays, the variance halves
    loc, scale = product_of_gaussians(l1, s1, l1, s1)
    assert torch.allclose(loc, l1) and torch.allclose(scale.square(), s1.square() / 2)


def test_adaptive_threshold_is_the_midpoint_of_the_smallest_and_largest_kl():
    delta = torch.tensor([[0.1, 5.0, 0.2, 4.0], [1.0, 1.0, 3.0, 2.0], [0.5, 0.5, 0.5, 0.5]])
    # τ = 2.55, 2.0, 0.5: δ < τ is shared; a tie at τ is not; all equal: nothing shared
    expected = torch.tensor([[True, False, True, False], [True, True, False, False], [False] * 4])
    assert torch.equal(adaptive_shared_dims(delta), expected)


@pytest.mark.parametrize("cls,aggregate", [(AdaGVAE, arithmetic_mean), (AdaMLVAE, product_of_gaussians)])
def test_guide_averages_exactly_the_dims_the_pair_shares(cls, aggregate):
    """Synthetic pairs whose posteriors differ only in known dims (1 and 3 for the first pair,
    2 for the second): the threshold finds them, the guide's site "z" carries the aggregate on
    the other dims for both observations and each observation's own posterior on these."""
    g = torch.Generator().manual_seed(1)
    loc1, scale1 = torch.randn(2, 4, generator=g), 0.5 + torch.rand(2, 4, generator=g)
    loc2, scale2 = loc1 + 0.05 * torch.randn(2, 4, generator=g), scale1 * 1.02
    loc2[0, [1, 3]] += torch.tensor([3.0, -4.0])
    loc2[1, 2] += 5.0
    scale2[1, 2] *= 0.3
    shared = torch.tensor([[True, False, True, False], [True, True, False, True]])
    model = _model(cls)
    model.encoder = _FixedEncoder(torch.stack([loc1, loc2], 1).flatten(0, 1), torch.stack([scale1, scale2], 1).flatten(0, 1))
    assert torch.equal(model.shared_dims(torch.stack([loc1, loc2], 1), torch.stack([scale1, scale2], 1)), shared)
    site = poutine.trace(model.guide).get_trace(_pairs(2), dataset_size=100).nodes["z"]
    loc, scale = site["fn"].base_dist.loc.view(2, 2, 4), site["fn"].base_dist.scale.view(2, 2, 4)
    mean_loc, mean_scale = aggregate(loc1, scale1, loc2, scale2)
    for member, (own_loc, own_scale) in enumerate([(loc1, scale1), (loc2, scale2)]):
        assert torch.allclose(loc[:, member], torch.where(shared, mean_loc, own_loc), atol=1e-5)
        assert torch.allclose(scale[:, member], torch.where(shared, mean_scale, own_scale), atol=1e-5)
    assert site["infer"]["paired"] and site["value"].shape == (4, 4)


def test_loss_is_the_beta_vae_elbo_of_both_observations_under_the_aggregated_posteriors():
    beta, x = 3.0, _pairs()
    model = _model(AdaMLVAE)
    pyro.set_rng_seed(4)
    loss = DisentELBO([regularizer("beta_vae", beta=beta)]).differentiable_loss(model.model, model.guide, x)
    pyro.set_rng_seed(4)
    guide = poutine.trace(model.guide).get_trace(x)
    q, z = guide.nodes["z"]["fn"], guide.nodes["z"]["value"]
    prior = torch.distributions.Normal(torch.zeros(4), torch.ones(4))
    obs = x.flatten(0, 1)
    log_lik = torch.distributions.Bernoulli(logits=model.decode(z)).log_prob(obs).sum()
    kl = torch.distributions.kl_divergence(q.base_dist, prior).sum()
    assert torch.allclose(loss, -(log_lik - beta * kl), rtol=1e-5)


def test_model_and_guide_run_under_plain_pyro_svi():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    model, x = _model(k="rnd"), _pairs(16)
    before = [p.detach().clone() for p in model.parameters()]
    svi = SVI(model.model, model.guide, Adam({"lr": 1e-2}), loss=Trace_ELBO())
    losses = [svi.step(x, dataset_size=64) for _ in range(3)]
    assert all(math.isfinite(v) for v in losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_regularizers_composing_and_refused_by_name():
    """Per-data-point regularizers run on the 2B codes; the aggregate-posterior estimators,
    which need an i.i.d. batch, refuse a batch of pairs and the error names them."""
    model, x = _model(), _pairs()
    applies = [
        regularizer("beta_vae", beta=4),
        regularizer("annealed_vae"),
        regularizer("dip"),
        regularizer("variance"),
        regularizer("discriminator", hidden_units=16, layers=2),
    ]
    for reg in applies:
        loss = DisentELBO([reg]).differentiable_loss(model.model, model.guide, x, dataset_size=64)
        assert torch.isfinite(loss), reg.name
    refused = [regularizer("tc"), regularizer("pc", groups=[2, 2]), regularizer("grouped_tc", groups=[2, 2])]
    for reg in refused:
        elbo = DisentELBO([regularizer("beta_vae", beta=2), reg])
        with pytest.raises(UnsupportedPosteriorError, match=f"regularizer '{reg.name}'.*i.i.d. sample"):
            elbo.differentiable_loss(model.model, model.guide, x, dataset_size=64)


def test_inputs_must_be_pairs_and_k_is_checked():
    model = _model()
    with pytest.raises(ValueError, match=r"x must be \[B, 2, 1, 8, 8\], got \[6, 1, 8, 8\]"):
        DisentELBO().differentiable_loss(model.model, model.guide, _pairs()[:, 0])
    with pytest.raises(ValueError, match="k .* must be an integer >= 1"):
        AdaGVAE(SHAPE, 4, "mlp", k=0)
    assert _model(k="rnd").pair_sampling == {"k": "rnd"}
    assert get_component("models", "ada_gvae") is AdaGVAE and get_component("models", "ada_ml_vae") is AdaMLVAE


def _tiny(path, **model):
    """A shipped config cut to a few steps on 16 × 16 dSprites with 96 images (4 factors)."""
    config = load_config(path).to_dict()
    config["device"] = "cpu"
    config["model"].update(model)
    config["data"]["options"] = {"scales": 2, "orientations": 1, "positions": 4, "image_size": 16}
    config["train"].update(steps=6, batch_size=8, log_every=2, checkpoint_every=3, image_every=3)
    return config


@pytest.mark.parametrize("name", ["ada_gvae.yaml", "ada_ml_vae.yaml"])
def test_shipped_configs_train_and_resume_exactly(name, tmp_path):
    config = _tiny(CONFIGS / name)
    summary = train(config, tmp_path / "straight", progress=False)
    assert summary["steps_done"] == 6 and math.isfinite(summary["final_terms"]["loss"])
    train(config, tmp_path / "resumed", max_steps=3, progress=False)
    train(config, tmp_path / "resumed", progress=False)
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert b["sampler"]["kind"] == "pairs" and torch.equal(a["sampler"]["generator"], b["sampler"]["generator"])
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    model, dataset, _ = load_run(tmp_path / "straight")  # metrics encode single images
    assert model.encode(dataset.batch_to_float(dataset.images[:3]))[0].shape == (3, 10)


def test_engine_names_what_does_not_fit(tmp_path):
    config = _tiny(CONFIGS / "ada_gvae.yaml", k=4)  # 4 factors: k must be 1..3
    with pytest.raises(ConfigError, match="'model' \\(ada_gvae\\) and 'data'.*k=4 leaves no shared factor"):
        train(config, tmp_path / "k", progress=False)
    config = _tiny(CONFIGS / "ada_gvae.yaml")
    config["regularizers"] = [{"name": "tc", "beta": 6.0}]
    with pytest.raises(ConfigError, match="do not fit together: regularizer 'tc'"):
        train(config, tmp_path / "tc", progress=False)
    config = _tiny(CONFIGS / "ada_gvae.yaml")
    config["train"]["batch_size"] = 60
    with pytest.raises(ConfigError, match="60 pairs are 120 observations, more than the dataset holds \\(96\\)"):
        train(config, tmp_path / "batch", progress=False)
