"""InfoGAN (Chen et al. 2016) with the factorized or correlated Q (Yang et al. 2020, §5.2)."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyrodisent.adversarial import InfoGANLoss
from pyrodisent.engine.trainer import Trainer, train
from pyrodisent.models.infogan import InfoGAN
from pyrodisent.regularizer import regularizer


def _model(guide="factorized", **kwargs):
    torch.manual_seed(0)
    return InfoGAN(input_shape=(1, 8, 8), guide=guide, register_params=False, **kwargs)


def _manual_neg_log_q(model, codes, category, x):
    """(−mean log Q(c | x), −mean log Q(k | x)) written out: the Gaussian of eq. 12 (Yang et
    al. 2020) by its covariance, the categorical by log-softmax (0 without one)."""
    loc, scale = model.encode(x)
    d = model.codes
    corr = (1 - model.rho) * torch.eye(d) + model.rho * torch.ones(d, d)
    cov = scale.unsqueeze(-1) * corr * scale.unsqueeze(-2)
    codes_term = -torch.distributions.MultivariateNormal(loc, covariance_matrix=cov).log_prob(codes).mean()
    if category is None:
        return codes_term, torch.tensor(0.0)
    return codes_term, -(torch.log_softmax(model.category_logits(x), -1) * category).sum(-1).mean()


@pytest.mark.parametrize("guide", ["factorized", "correlated"])
@pytest.mark.parametrize("categories", [10, 0])
def test_mi_term_is_minus_mean_log_q_of_the_codes_that_made_the_images(guide, categories):
    model = _model(guide, categories=categories, noise_dim=5)
    objective = model.make_objective([regularizer("gan_discriminator")])
    x = torch.rand(16, 1, 8, 8)
    pyro.set_rng_seed(3)
    trace = pyro.poutine.trace(model.model).get_trace(x)
    codes = trace.nodes["codes"]["value"]
    category = trace.nodes["category"]["value"] if categories else None
    noise = trace.nodes["noise"]["value"]
    with torch.no_grad():
        fake = model.generate(codes, category, noise)
        codes_term, category_term = _manual_neg_log_q(model, codes, category, fake)
        pyro.set_rng_seed(3)  # the same codes and noise in the objective's own trace
        loss = objective.differentiable_loss(model.model, model.guide, x)
    terms = objective.last_terms
    expected = float(codes_term + category_term)
    assert terms["info/neg_log_q"] == pytest.approx(expected, rel=1e-5)
    assert terms["info/neg_log_q/codes"] == pytest.approx(float(codes_term), rel=1e-5)
    assert terms["info/mi_lower_bound"] == pytest.approx(model.code_entropy() - expected, rel=1e-5)
    # λ = 0.1 for the continuous codes (Yang et al. 2020), 1 for the category (Chen et al. 2016)
    weighted = 0.1 * float(codes_term) + 1.0 * float(category_term)
    assert float(loss) == pytest.approx(weighted + float(terms["penalty/gan_discriminator/generator"]), rel=1e-5)


def test_code_entropy_is_the_priors_entropy():
    uniform = _model(codes=3, categories=10)
    expected = 3 * float(dist.Uniform(-1.0, 1.0).entropy()) + float(dist.OneHotCategorical(torch.full((10,), 0.1)).entropy())
    assert uniform.code_entropy() == pytest.approx(expected)
    normal = _model(codes=2, categories=0, code_prior="normal")
    assert normal.code_entropy() == pytest.approx(float(dist.Normal(torch.zeros(2), 1.0).entropy().sum()))


def test_backward_reaches_generator_and_q_not_the_discriminator():
    model = _model("correlated")
    objective = model.make_objective([regularizer("gan_discriminator")])
    disc = objective.regularizers[0]
    x = torch.rand(8, 1, 8, 8)
    loss = objective.differentiable_loss(model.model, model.guide, x)
    before = [p.detach().clone() for p in disc.network.parameters()]
    loss.backward()
    assert all(p.grad is None for p in disc.network.parameters())
    assert all(p.grad is not None for p in model.generator.parameters())
    assert all(p.grad is not None for p in model.recognition.parameters())
    # the discriminator took its own step inside the loss
    objective.differentiable_loss(model.model, model.guide, x)
    assert disc.auxiliary_steps == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, disc.network.parameters()))


def test_stock_svi_trains_the_pair_with_the_objective():
    model = InfoGAN(input_shape=(1, 8, 8), noise_dim=4)
    svi = pyro.infer.SVI(model.model, model.guide, pyro.optim.Adam({"lr": 1e-3}),
                         loss=model.make_objective([regularizer("gan_discriminator")]))
    pyro.clear_param_store()
    value = svi.step(torch.rand(8, 1, 8, 8))
    assert math.isfinite(value)
    assert {"generator$$$0.weight", "recognition$$$0.weight"} <= set(pyro.get_param_store().keys())


def test_code_traversal_sweeps_one_code_per_axis_with_noise_and_category_fixed():
    model = _model(codes=3, categories=10, noise_dim=6)
    images = model.code_traversal(values=5, span=2.0, dims=(0, 2), category=4, seed=7)
    assert images.shape == (5, 5, 1, 8, 8)
    grid = torch.linspace(-2, 2, 5)
    noise = torch.randn(1, 6, generator=torch.Generator().manual_seed(7))
    onehot = torch.zeros(1, 10)
    onehot[0, 4] = 1
    model.eval()
    with torch.no_grad():
        for i, j in [(0, 0), (1, 3), (4, 2)]:
            codes = torch.tensor([[float(grid[j]), 0.0, float(grid[i])]])
            torch.testing.assert_close(images[i, j], model.generate(codes, onehot, noise)[0])
    assert model.training is False  # left as found
    model.train()
    assert model.code_traversal(values=5, dims=(0, 2), category=4, seed=7).shape == (5, 5, 1, 8, 8)
    assert model.training
    assert not torch.equal(images, model.code_traversal(values=5, dims=(0, 2), category=4, seed=8))


@pytest.mark.parametrize("bad, match", [
    (dict(code_prior="laplace"), "code_prior"), (dict(categories=1), "categories"),
    (dict(guide="correlated", rho=1.0), "rho"), (dict(guide="factorized", rho=0.5), "correlated"),
    (dict(input_shape=(1, 10, 10)), "divisible by 4"), (dict(latent_dim=3), "latent_dim"),
    (dict(mi_weight=-1), "mi_weight"), (dict(category_weight=-0.5), "category_weight"),
])
def test_bad_options_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        InfoGAN(**{"input_shape": (1, 8, 8), **bad})


def test_objective_needs_a_discriminator_and_the_discriminator_a_generator():
    with pytest.raises(ValueError, match="adversarial regularizer"):
        InfoGANLoss([], mi_weight=0.1)
    from pyrodisent import DisentELBO
    from pyrodisent.models import VAE

    vae = VAE(input_shape=(1, 8, 8), latent_dim=2, encoder="mlp", hidden_width=8)
    with pytest.raises(ValueError, match="generator model"):
        DisentELBO([regularizer("gan_discriminator")]).differentiable_loss(vae.model, vae.guide, torch.rand(4, 1, 8, 8))


def _config(guide, steps):
    return {
        "seed": 0, "device": "cpu",
        "model": {"name": "infogan", "codes": 2, "categories": 10, "noise_dim": 8, "guide": guide, "mi_weight": 0.1},
        "data": {"name": "digits"},
        "regularizers": [{"name": "gan_discriminator"}],
        "train": {"steps": steps, "batch_size": 16, "optimizer": {"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999]},
                  "log_every": 2, "image_every": 2, "checkpoint_every": 2},
    }


@pytest.mark.parametrize("guide", ["factorized", "correlated"])
def test_the_engine_trains_and_resumes_exactly(guide, tmp_path):
    straight = train(_config(guide, 4), tmp_path / "straight", progress=False)
    assert straight["steps_done"] == 4 and math.isfinite(straight["final_terms"]["loss"])
    assert {"gan/d_loss", "gan/d_real", "gan/d_fake", "info/neg_log_q"} <= set(straight["final_terms"])
    train(_config(guide, 4), tmp_path / "resumed", max_steps=2, progress=False)
    resumed = train(_config(guide, 4), tmp_path / "resumed", progress=False)
    assert resumed["final_terms"] == straight["final_terms"]
    a, b = Trainer(_config(guide, 4), tmp_path / "straight"), Trainer(_config(guide, 4), tmp_path / "resumed")
    a._setup()
    b._setup()
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name
    disc_a, disc_b = a.elbo.regularizers[0].network, b.elbo.regularizers[0].network
    for p, q in zip(disc_a.parameters(), disc_b.parameters()):
        assert torch.equal(p, q)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "straight" / "tb"))
    acc.Reload()
    assert "images/code_traversal" in acc.Tags()["images"]


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from pyrodisent_plugins.gan import GANDiscriminator

    from pyrodisent.engine.trainer import TrainingDivergedError

    train(_config("factorized", 2), tmp_path, progress=False)
    good = (tmp_path / "checkpoint.pt").read_bytes()
    monkeypatch.setattr(GANDiscriminator, "penalty", lambda self, batch: {"generator": torch.tensor(float("nan"))})
    with pytest.raises(TrainingDivergedError, match="step 2"):
        train(_config("factorized", 4), tmp_path, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == good


def test_vae_regularizers_are_refused_by_the_infogan_objective_and_the_engine(tmp_path):
    model = _model()
    with pytest.raises(ValueError, match=r"\['tc'\] cannot act on generated images"):
        model.make_objective([regularizer("gan_discriminator"), regularizer("tc", beta=6)])
    from pyrodisent.engine.config import ConfigError

    config = _config("factorized", 2)
    config["regularizers"] = [{"name": "discriminator"}]
    with pytest.raises(ConfigError, match=r"config keys 'model' \(infogan\) and 'regularizers'.*discriminator"):
        train(config, tmp_path, progress=False)


def test_logged_terms_are_one_per_code_site_and_the_discriminator_loss_is_its_cross_entropy():
    model = _model(noise_dim=4)
    objective = model.make_objective([regularizer("gan_discriminator")])
    disc = objective.regularizers[0]
    x = torch.rand(8, 1, 8, 8)
    pyro.set_rng_seed(0)
    objective.differentiable_loss(model.model, model.guide, x)  # builds D, takes one D step
    info = sorted(k for k in objective.last_terms if k.startswith("info/"))
    assert info == ["info/mi_lower_bound", "info/neg_log_q", "info/neg_log_q/category", "info/neg_log_q/codes"]
    # d_loss = −mean log σ(D(x)) − mean log(1 − σ(D(G))), as D saw the batch before its step
    fake = torch.rand(8, 1, 8, 8)
    from pyrodisent import GeneratedBatch

    batch = GeneratedBatch(x, fake, step=0, training=True)
    with torch.no_grad():
        d_real = torch.sigmoid(disc.network(x).squeeze(-1))
        d_fake = torch.sigmoid(disc.network(fake).squeeze(-1))
        expected = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
        assert float(disc.auxiliary_loss(batch)) == pytest.approx(float(expected), rel=1e-4)
    assert float(batch.diagnostics["gan/d_real"]) == pytest.approx(float(d_real.mean()), rel=1e-5)


def test_the_mi_term_alone_trains_the_generator_and_q():
    model = _model("correlated", noise_dim=4)
    objective = model.make_objective([regularizer("gan_discriminator", gamma=0.0)])
    loss = objective.differentiable_loss(model.model, model.guide, torch.rand(8, 1, 8, 8))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator[0].parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.recognition[-1].parameters())
