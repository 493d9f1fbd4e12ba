"""The compiled training step (pyrodisent.compiled): the recorded program computes what the Pyro
model/guide computes eagerly, for every built-in regularizer and model; plugins it cannot
record fall back with one warning naming them; the engine's resume, NaN and SIGINT
behaviour holds under ``train.compile: step``; bf16 autocast leaves the estimators in
float32."""

from __future__ import annotations

import os
import signal
import warnings

import pyro
import pytest
import torch

from pyrodisent import DisentELBO, Regularizer, hookimpl, regularizer
from pyrodisent.compiled import CompileFallbackWarning, compile_step
from pyrodisent.engine import ConfigError, Trainer, TrainingDivergedError, parse_config, train
from pyrodisent.engine.checkpoint import load_checkpoint
from pyrodisent.models import VAE
from pyrodisent.plugin_manager import get_plugin_manager
from pyrodisent.precision import autocast_networks

N = 500


def _vae(**options) -> VAE:
    torch.manual_seed(0)
    vae = VAE((20,), 6, encoder="mlp", hidden_width=16, likelihood="gaussian", **options)
    vae.register_params = False
    return vae


def _train(regularizers, steps: int, compiled: str | None, **vae_options):
    """Losses, final parameters and last terms of ``steps`` steps from the same seed, eager
    (``compiled=None``) or through compile_step in the given mode."""
    vae = _vae(**vae_options)
    elbo = DisentELBO([regularizer(name, **options) for name, options in regularizers])
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-2)
    x = torch.randn(32, 20, generator=torch.Generator().manual_seed(1))
    step = compile_step(vae, elbo, optimizer, mode=compiled, dataset_size=N) if compiled else None
    torch.manual_seed(2)
    losses = _steps(vae, elbo, optimizer, step, x, steps)
    return losses, [p.detach().clone() for p in vae.parameters()], elbo.last_terms, step


def _steps(model, elbo, optimizer, step, x, steps: int, after=lambda: None) -> torch.Tensor:
    """The losses of ``steps`` training steps, by ``step`` (a CompiledStep) or eagerly when it
    is None; a fallback to the eager step is an error here. ``after`` runs after each step."""
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileFallbackWarning)
        for _ in range(steps):
            if step is not None:
                loss = step(x)
            else:
                loss = elbo.differentiable_loss(model.model, model.guide, x, dataset_size=N)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            losses.append(loss.detach())
            after()
    return torch.stack(losses)


BUILT_IN = [
    [("tc", {"beta": 6.0, "estimator": "mss"})],
    [("tc", {"beta": 5.0}), ("pc", {"beta": 4.0, "groups": [2, 2, 2]})],
    [("grouped_tc", {"beta": 4.0, "grouping_factor": 2})],
    [("annealed_vae", {"c_max": 5.0, "iterations": 3})],  # the capacity changes every step
    [("discriminator", {"gamma": 10.0, "hidden_units": 16})],  # its own step after the program
    [("variance", {"beta": 10.0}), ("tc", {"beta": 6.0})],
    [("dip", {})],
    [("beta_vae", {"beta": 4.0})],
]


@pytest.mark.parametrize("regularizers", BUILT_IN, ids=lambda r: "+".join(name for name, _ in r))
def test_the_recorded_program_trains_exactly_as_the_eager_step(regularizers):
    eager_losses, eager_params, eager_terms, _ = _train(regularizers, 4, None)
    losses, params, terms, step = _train(regularizers, 4, "replay")
    assert step.fallback is None
    assert torch.equal(losses, eager_losses)
    for a, b in zip(params, eager_params):
        assert torch.equal(a, b)
    assert terms.keys() == eager_terms.keys()
    for key in terms:
        assert torch.equal(terms[key], eager_terms[key]), key


@pytest.mark.parametrize("options", [{"guide": "correlated", "rho": 0.9}, {"prior": "logcosh"},
                                     {"prior": {"lp_nested": {"groups": [2, 2, 2]}}}],
                         ids=["correlated-guide", "logcosh-prior", "lp-nested-prior"])
def test_guides_and_priors_are_recorded(options):
    eager_losses, *_ = _train([("tc", {"beta": 6.0})] if "guide" in options else [], 3, None, **options)
    losses, _, _, step = _train([("tc", {"beta": 6.0})] if "guide" in options else [], 3, "replay", **options)
    assert step.fallback is None
    assert torch.equal(losses, eager_losses)


def test_inductor_compiles_the_step_to_the_eager_numbers():
    eager_losses, eager_params, _, _ = _train(BUILT_IN[0], 3, None)
    losses, params, _, step = _train(BUILT_IN[0], 3, "default")
    assert step.fallback is None
    torch.testing.assert_close(losses, eager_losses, rtol=1e-5, atol=1e-5)
    for a, b in zip(params, eager_params):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # one graph, no break: the program is a GraphModule Dynamo takes whole (fullgraph=True)
    assert step.graph is not None and len(step.graph.graph.nodes) > 50


class _ReadsAValue(Regularizer):
    """A plugin whose Python reads a tensor's value: cannot be recorded."""

    name = "reads_a_value"

    def penalty(self, posterior):
        kl = posterior.kl().mean()
        if kl.item() > 1e9:  # the line the warning must name
            return {"never": kl}
        return {"kl_copy": 0.1 * kl}


def test_a_plugin_that_cannot_be_recorded_falls_back_with_one_warning_naming_it():
    vae = _vae()
    elbo = DisentELBO([regularizer("tc", beta=6.0), _ReadsAValue()])
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)
    step = compile_step(vae, elbo, optimizer, mode="replay", dataset_size=N)
    x = torch.randn(32, 20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses = [step(x) for _ in range(4)]
    ours = [w for w in caught if issubclass(w.category, CompileFallbackWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert "regularizer 'reads_a_value'" in message and "test_compiled.py:" in message
    assert "kl.item() > 1e9" in message
    assert step.fallback is not None and all(torch.isfinite(loss) for loss in losses)
    assert "penalty/reads_a_value/kl_copy" in elbo.last_terms  # the eager step ran it


@pytest.mark.parametrize("train_all_layers", [False, True])
def test_devae_gets_one_program_per_drawn_layer_and_trains_as_eagerly(train_all_layers):
    from pyrodisent.models import DeVAE

    def run(mode):
        torch.manual_seed(0)
        model = DeVAE((20,), 4, encoder="mlp", hidden_width=16, likelihood="gaussian", betas=[1.0, 10.0, 40.0],
                      train_all_layers=train_all_layers)
        model.register_params = False
        elbo = DisentELBO()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        step = compile_step(model, elbo, optimizer, mode=mode, dataset_size=N) if mode else None
        x = torch.randn(16, 20, generator=torch.Generator().manual_seed(1))
        layers = []
        losses = _steps(model, elbo, optimizer, step, x, 8, after=lambda: layers.append(model.current_layer))
        return losses, layers, step

    eager_losses, eager_layers, _ = run(None)
    losses, layers, step = run("replay")
    assert layers == eager_layers  # the same draws from the model's generator
    assert torch.equal(losses, eager_losses)
    assert step.fallback is None
    assert step.programs == (1 if train_all_layers else len(set(layers[1:])))  # the first step is eager


# ------------------------------------------------------------------------ bf16
class _Dtypes(Regularizer):
    name = "dtypes"
    seen: list = []

    def penalty(self, posterior):
        _Dtypes.seen.append((posterior.z.dtype, posterior.loc.dtype, posterior.scale.dtype))
        return {}


def test_bf16_autocasts_the_networks_and_leaves_the_tc_estimate_in_float32():
    vae = _vae()
    x = torch.randn(64, 20, generator=torch.Generator().manual_seed(3))
    elbo = DisentELBO([regularizer("tc", beta=6.0, estimator="mss"), _Dtypes()])
    pyro.set_rng_seed(4)
    with torch.no_grad():
        elbo.differentiable_loss(vae.model, vae.guide, x, dataset_size=N)
    fp32 = dict(elbo.last_terms)
    linear_dtypes = []
    probe = vae.encoder[1].register_forward_hook(lambda m, a, out: linear_dtypes.append(out.dtype))
    handles = autocast_networks([vae.encoder, vae.decoder], torch.bfloat16)
    pyro.set_rng_seed(4)
    with torch.no_grad():
        elbo.differentiable_loss(vae.model, vae.guide, x, dataset_size=N)
    bf16 = dict(elbo.last_terms)
    for handle in handles:
        handle.remove()
    probe.remove()
    assert linear_dtypes == [torch.bfloat16]  # the network computed in bf16 ...
    assert _Dtypes.seen[-1] == (torch.float32,) * 3  # ... and the estimators got float32
    # the TC estimate moves only by the networks' rounding (bf16: 2^-8 relative)
    tc32, tc16 = fp32["tc/tc"], bf16["tc/tc"]
    assert abs(tc16 - tc32) <= 0.02 * abs(tc32) + 0.02
    torch.testing.assert_close(bf16["kl"], fp32["kl"], rtol=2e-2, atol=2e-2)


def test_precision_and_compile_options_are_validated(tiny_config):
    def with_train(**train):
        return dict(tiny_config, train=dict(tiny_config["train"], **train))

    assert parse_config(with_train(compile=True)).train.compile == "networks"  # the older spelling
    assert parse_config(with_train(compile=False)).train.compile == "off"
    with pytest.raises(ConfigError, match=r"train.compile': must be one of \('off', 'networks', 'step'\)"):
        parse_config(with_train(compile="everything"))
    with pytest.raises(ConfigError, match=r"train.precision': must be one of \('bf16', 'fp32'\)"):
        parse_config(with_train(precision="fp16"))
    with pytest.raises(ConfigError, match="train.compile_mode"):
        parse_config(with_train(compile_mode="fastest"))


# ------------------------------------------------------------------ the engine
def _step_config(tiny_config, mode="replay", **train):
    return dict(tiny_config, train=dict(tiny_config["train"], compile="step", compile_mode=mode, **train))


@pytest.mark.parametrize("mode", ["replay", "default"])
def test_a_compiled_run_resumes_exactly(tiny_config, tmp_path, mode):
    config = _step_config(tiny_config, mode, steps=6)
    train(config, tmp_path / "straight", progress=False)
    train(config, tmp_path / "resumed", max_steps=3, progress=False)
    train(config, tmp_path / "resumed", progress=False)
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert a["step"] == b["step"] == 6
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_the_compiled_engine_matches_the_eager_engine(tiny_config, tmp_path):
    eager = train(tiny_config, tmp_path / "eager", progress=False)
    compiled = train(_step_config(tiny_config), tmp_path / "compiled", progress=False)
    a = load_checkpoint(tmp_path / "eager" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "compiled" / "checkpoint.pt")["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert eager["final_terms"] == compiled["final_terms"]


class _NaNFrom(Regularizer):
    """NaN from a step on, written with tensor operations so that it is recorded."""

    name = "nan_from"

    def __init__(self, step: int = 5):
        super().__init__()
        self.at = step

    def penalty(self, posterior):
        bad = torch.where(torch.as_tensor(posterior.step) >= self.at, float("nan"), 0.0)
        return {"boom": posterior.z.sum() * 0 + bad}


class _Plugins:
    @hookimpl
    def pyrodisent_regularizers(self):
        return {"nan_from": _NaNFrom}


@pytest.fixture
def nan_plugin():
    manager = get_plugin_manager()
    name = manager.register_plugin(_Plugins(), "tests-compiled")
    yield
    manager.unregister_plugin(name)


def test_a_nan_in_the_compiled_step_stops_and_keeps_the_last_good_checkpoint(tiny_config, tmp_path, nan_plugin):
    config = dict(_step_config(tiny_config), regularizers=[{"name": "nan_from", "step": 9}])
    with pytest.raises(TrainingDivergedError, match=r"between steps 10 and 12.*last good checkpoint \(step 8\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileFallbackWarning)  # it is recorded, not eager
            train(config, tmp_path, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 8


def test_sigint_during_a_compiled_run_saves_and_exits(tiny_config, tmp_path, monkeypatch):
    trainer = Trainer(_step_config(tiny_config), tmp_path, progress=False)
    original = Trainer.train_step
    calls = []

    def step(self):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", step)
    summary = trainer.run()
    assert summary["interrupted"] and summary["steps_done"] == 3
    assert trainer.compiled_step is not None and trainer.compiled_step.fallback is None
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 3


def test_recording_first_leaves_no_fake_tensor_in_any_cache():
    """Recording runs the model's Python on fake tensors; the caches it fills on the way (the
    model's prior, the estimators' weight matrices and subset batches) must keep none."""
    vae = _vae()
    elbo = DisentELBO([regularizer("tc", beta=6.0), regularizer("grouped_tc", beta=2.0, grouping_factor=2)])
    step = compile_step(vae, elbo, torch.optim.Adam(vae.parameters()), mode="replay", eager_first=False,
                        dataset_size=N + 1)  # sizes no earlier test has cached
    x = torch.randn(24, 20)
    for _ in range(2):
        step(x)
    assert step.fallback is None
    with torch.no_grad():  # an eager evaluation after the recording: no fake tensor met
        loss = elbo.differentiable_loss(vae.model, vae.guide, x, dataset_size=N + 1)
    assert type(loss) is torch.Tensor and torch.isfinite(loss)


@pytest.mark.parametrize("model", [
    {"name": "ada_gvae", "encoder": "mlp", "latent_dim": 4, "hidden_width": 16, "k": 1},
    {"name": "infogan"},
], ids=["ada_gvae", "infogan"])
def test_the_weakly_supervised_and_gan_models_train_compiled_as_eagerly(model, tiny_config, tmp_path):
    """Ada-GVAE's paired batches and InfoGAN's objective with its discriminator plugin."""
    config = dict(tiny_config, model=model, train=dict(tiny_config["train"], steps=4, image_every=0))
    if model["name"] == "infogan":
        config.update(data={"name": "digits"}, regularizers=[{"name": "gan_discriminator"}])
        config["model"] = {"name": "infogan", "codes": 2, "categories": 10, "noise_dim": 8}
    else:
        config["regularizers"] = [{"name": "beta_vae", "beta": 2.0}]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileFallbackWarning)
        eager = train(config, tmp_path / "eager", progress=False)
        compiled = train(_step_config(config), tmp_path / "compiled", progress=False)
    a = load_checkpoint(tmp_path / "eager" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "compiled" / "checkpoint.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert eager["final_terms"] == compiled["final_terms"]


@pytest.mark.parametrize("mode, device, expected", [
    ("auto", "cpu", {"fallback_random": True}),
    ("auto", "cuda", {"triton.cudagraphs": True, "fallback_random": True}),
    ("default", "cuda", {"fallback_random": True}),
    ("max-autotune", "cpu", {"max_autotune": True, "triton.cudagraphs": True, "coordinate_descent_tuning": True,
                             "fallback_random": True}),
])
def test_every_compile_mode_keeps_torchs_random_operators(mode, device, expected):
    """torch.compile takes a mode or options, not both: the mode's options are spelled out, with
    fallback_random (the eager step's noise) added to each."""
    vae = _vae()
    step = compile_step(vae, DisentELBO(), torch.optim.Adam(vae.parameters()), mode=mode, dataset_size=N)
    assert step.compile_options(torch.device(device)) == expected


# ------------------------------------------------- what a recorded program must not freeze
class _CallCounter(Regularizer):
    """Python state that changes every step: recorded, it would stay at its first value."""

    name = "call_counter"

    def __init__(self):
        super().__init__()
        self.calls = 0

    def penalty(self, posterior):
        self.calls += 1
        return {"ramp": min(1.0, self.calls / 4) * posterior.kl().mean()}


def test_python_state_that_changes_every_step_falls_back_naming_it():
    vae = _vae()
    elbo = DisentELBO([_CallCounter()])
    step = compile_step(vae, elbo, torch.optim.Adam(vae.parameters()), mode="replay", dataset_size=N)
    with pytest.warns(CompileFallbackWarning, match=r"Python state .*_CallCounter \(regularizers.0\).calls"):
        for _ in range(4):
            step(torch.randn(16, 20))
    assert elbo.regularizers[0].calls == 4  # every step ran it, eagerly


def test_a_schedule_of_a_regularizers_weight_records_a_program_per_value():
    def run(mode):
        vae = _vae()
        reg = regularizer("tc", beta=1.0)
        elbo = DisentELBO([reg])
        optimizer = torch.optim.Adam(vae.parameters(), lr=1e-2)
        step = compile_step(vae, elbo, optimizer, mode=mode, dataset_size=N) if mode else None
        x = torch.randn(32, 20, generator=torch.Generator().manual_seed(1))
        torch.manual_seed(2)
        schedule = iter([1.0, 1.0, 2.0, 2.0, 4.0, 1.0])
        losses = _steps(vae, elbo, optimizer, step, x, 6, after=lambda: setattr(reg, "beta", next(schedule)))
        return losses, step

    eager, _ = run(None)
    compiled, step = run("replay")
    assert torch.equal(compiled, eager)
    assert step.programs == 3 and step.fallback is None  # β = 1, 2, 4; the first step is eager


def test_a_weight_that_changes_every_step_stops_recording_after_a_few_programs():
    vae = _vae()
    reg = regularizer("tc", beta=1.0)
    step = compile_step(vae, DisentELBO([reg]), torch.optim.Adam(vae.parameters()), mode="replay", dataset_size=N)
    with pytest.warns(CompileFallbackWarning, match=r"8 programs were recorded.*tc\.beta"):
        for i in range(12):
            reg.beta = 1.0 + i
            step(torch.randn(16, 20))
    assert step.programs == 8


def test_a_plugin_network_trained_between_particles_runs_eagerly():
    vae = _vae()
    elbo = DisentELBO([regularizer("discriminator", gamma=1.0, hidden_units=8)], num_particles=2)
    step = compile_step(vae, elbo, torch.optim.Adam(vae.parameters()), mode="replay", dataset_size=N)
    with pytest.warns(CompileFallbackWarning, match=r"\['discriminator'\].*num_particles = 2"):
        for _ in range(3):
            step(torch.randn(16, 20))


class _ReadsThePosteriorInItsStep(Regularizer):
    """An auxiliary step that reads the batch's distributions and records a term the penalty
    records too (the step's value wins, as eagerly)."""

    name = "reads_posterior"

    def penalty(self, posterior):
        posterior.record("reads_posterior/value", torch.tensor(1.0))
        return {}

    def auxiliary_step(self, posterior):
        posterior.record("reads_posterior/value", posterior.kl().mean().detach())


def test_the_deferred_plugin_step_sees_the_batch_as_eagerly():
    eager_losses, _, eager_terms, _ = _train([], 1, None)  # warm the caches alike
    vae, x = _vae(), torch.randn(32, 20, generator=torch.Generator().manual_seed(1))
    terms = []
    for mode in (None, "replay"):
        vae = _vae()
        elbo = DisentELBO([_ReadsThePosteriorInItsStep()])
        optimizer = torch.optim.Adam(vae.parameters(), lr=1e-2)
        step = compile_step(vae, elbo, optimizer, mode=mode, dataset_size=N) if mode else None
        torch.manual_seed(2)
        _steps(vae, elbo, optimizer, step, x, 3)
        terms.append(elbo.last_terms["reads_posterior/value"])
    assert torch.equal(terms[0], terms[1]) and terms[0] != 1.0


def test_pyros_param_store_keeps_no_fake_tensor():
    pyro.clear_param_store()
    torch.manual_seed(0)
    vae = VAE((20,), 6, encoder="mlp", hidden_width=16, likelihood="gaussian")  # register_params=True
    step = compile_step(vae, DisentELBO(), torch.optim.Adam(vae.parameters()), mode="replay",
                        eager_first=False, dataset_size=N)
    for _ in range(2):
        step(torch.randn(16, 20))
    assert step.fallback is None and vae.register_params is True
    assert all(type(value) is torch.nn.Parameter or type(value) is torch.Tensor
               for _, value in pyro.get_param_store().items())


def test_a_program_that_does_not_compile_falls_back(monkeypatch):
    def broken(graph, **options):
        def run(*args):
            raise RuntimeError("no C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    vae = _vae()
    elbo = DisentELBO([regularizer("tc", beta=6.0)])
    step = compile_step(vae, elbo, torch.optim.Adam(vae.parameters()), mode="default", dataset_size=N)
    with pytest.warns(CompileFallbackWarning, match="does not compile: RuntimeError: no C\\+\\+ compiler found"):
        losses = [step(torch.randn(16, 20)) for _ in range(3)]
    assert all(torch.isfinite(loss) for loss in losses)


def test_bf16_hooks_keep_the_output_types():
    from collections import namedtuple

    Pair = namedtuple("Pair", "loc scale")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 4)

        def forward(self, x=None):
            h = self.linear(x)
            return Pair(h, h.double()), {"h": h}

    net = Net()
    handles = autocast_networks([net], torch.bfloat16)
    (pair, mapping) = net(x=torch.randn(2, 4))  # keyword input: the hook still autocasts
    for handle in handles:
        handle.remove()
    assert isinstance(pair, Pair) and pair.loc.dtype == torch.float32 and pair.scale.dtype == torch.float64
    assert mapping["h"].dtype == torch.float32
