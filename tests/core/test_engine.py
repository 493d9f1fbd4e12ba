"""The training engine: run directory, resume, NaN handling, SIGINT, bad configs."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
import yaml

from pyrodisent import Regularizer, hookimpl
from pyrodisent.engine import (
    ConfigError,
    Trainer,
    TrainingDivergedError,
    load_run,
    parse_config,
    train,
)
from pyrodisent.engine.checkpoint import load_checkpoint
from pyrodisent.engine.config import apply_overrides, load_config, quickstart_config_path
from pyrodisent.plugin_manager import get_plugin_manager


def test_run_directory_contents(tiny_config, tmp_path):
    summary = train(tiny_config, tmp_path, progress=False)
    assert summary["steps_done"] == 12 and summary["finished"] and not summary["interrupted"]
    assert summary["images_per_s"] > 0 and summary["wall_time_s"] > 0
    assert set(summary["final_terms"]) >= {"loss", "elbo", "kl", "tc/tc", "tc/mi"}
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["steps_done"] == 12
    resolved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert parse_config(resolved).to_dict() == resolved
    state = load_checkpoint(tmp_path / "checkpoint.pt")  # weights_only=True
    assert state["step"] == 12
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    assert {"loss/loss", "loss/tc/tc", "train/lr", "train/images_per_s"} <= scalars
    assert {"images/reconstructions", "images/traversals"} <= set(acc.Tags()["images"])
    model, dataset, config = load_run(tmp_path)
    loc, scale = model.encode(dataset.batch_to_float(dataset.images[:5]))
    assert loc.shape == (5, 4) and bool((scale > 0).all())


def test_resume_reproduces_the_uninterrupted_run(tiny_config, tmp_path):
    train(tiny_config, tmp_path / "straight", progress=False)
    first = train(tiny_config, tmp_path / "resumed", max_steps=5, progress=False)
    assert first["steps_done"] == 5 and not first["finished"]
    second = train(tiny_config, tmp_path / "resumed", progress=False)
    assert second["steps_done"] == 12 and second["finished"]
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # a finished run is not trained again
    again = train(tiny_config, tmp_path / "resumed", progress=False)
    assert again["steps_done"] == 12


def test_resume_refuses_a_different_config(tiny_config, tmp_path):
    train(tiny_config, tmp_path, max_steps=2, progress=False)
    changed = dict(tiny_config, regularizers=[{"name": "tc", "beta": 2.0}])
    with pytest.raises(ConfigError, match="different config"):
        train(changed, tmp_path, progress=False)
    longer = dict(tiny_config, train=dict(tiny_config["train"], steps=14))
    assert train(longer, tmp_path, progress=False)["steps_done"] == 14


class _NaNAfter(Regularizer):
    name = "nan_after"

    def __init__(self, step: int = 5):
        super().__init__()
        self.at = step

    def penalty(self, posterior):
        bad = float("nan") if posterior.step >= self.at else 0.0
        return {"boom": posterior.z.sum() * 0 + bad}


class _SigintAt(Regularizer):
    name = "sigint_at"

    def __init__(self, step: int = 3):
        super().__init__()
        self.at = step

    def penalty(self, posterior):
        if posterior.training and posterior.step == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return {}


class _TestRegularizers:
    @hookimpl
    def pyrodisent_regularizers(self):
        return {"nan_after": _NaNAfter, "sigint_at": _SigintAt}


@pytest.fixture
def extra_regularizers():
    manager = get_plugin_manager()
    name = manager.register_plugin(_TestRegularizers(), "tests-regularizers")
    yield
    manager.unregister_plugin(name)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_config, tmp_path, extra_regularizers):
    config = dict(tiny_config, regularizers=[{"name": "nan_after", "step": 9}])
    with pytest.raises(TrainingDivergedError, match=r"NaN or infinite between steps 10 and 12.*last good checkpoint \(step 8\)"):
        train(config, tmp_path, progress=False)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 8
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_sigint_saves_and_exits_cleanly(tiny_config, tmp_path, extra_regularizers):
    config = dict(tiny_config, regularizers=[{"name": "sigint_at", "step": 2}])
    summary = train(config, tmp_path, progress=False)
    assert summary["interrupted"] and summary["steps_done"] == 3
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 3


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.update(sead=1), r"unknown key\(s\) 'sead'; allowed at the top level"),
        (lambda c: c.pop("data"), r"config key 'data' is missing"),
        (lambda c: c["model"].update(latnt_dim=3), r"'model.latnt_dim'.*model accepts: .*latent_dim"),
        (lambda c: c["model"].update(name="no_model"), r"'model.name'.*unknown model 'no_model'; known models: .*vae"),
        (lambda c: c["data"].update(name="no_data"), r"'data.name'.*unknown dataset 'no_data'; known datasets: .*tiny_squares"),
        (lambda c: c.update(regularizers=[{"name": "tcc"}]), r"'regularizers.0.name'.*unknown regularizer 'tcc'; known regularizers: .*tc"),
        (lambda c: c.update(regularizers=[{"name": "tc", "beta": -2}]), r"'regularizers.0' \(tc\): beta must be >= 0"),
        (lambda c: c.update(regularizers=[{"name": "tc", "betta": 2}]), r"'regularizers.0.betta'; regularizers.0 accepts: .*beta"),
        (lambda c: c.update(regularizers=[{"name": "tc", "estimator": "xx"}]), r"estimator must be one of"),
        (lambda c: c["train"].update(steps=0), r"'train.steps': must be an integer >= 1"),
        (lambda c: c["train"].update(batch_size=1), r"'train.batch_size': must be an integer >= 2"),
        (lambda c: c["train"].update(optimizer={"name": "sgdd"}), r"'train.optimizer.name': must be one of"),
        (lambda c: c["train"].update(optimizer={"lr": -1}), r"'train.optimizer.lr': must be > 0"),
        (lambda c: c["train"].update(optimizer={"betas": [0.9]}), r"'train.optimizer.betas'"),
        (lambda c: c["train"].update(stepz=3), r"'train.stepz'"),
        (lambda c: c.update(device="tpu"), r"'device': must be auto, cpu, cuda"),
        (lambda c: c["train"].update(metrics_every=5), r"'train.metrics': list the metrics"),
    ],
)
def test_bad_config_errors_name_the_key(tiny_config, change, message):
    config = json.loads(json.dumps(tiny_config))
    change(config)
    with pytest.raises(ConfigError, match=message):
        parse_config(config)


def test_errors_found_when_building(tiny_config, tmp_path):
    config = json.loads(json.dumps(tiny_config))
    config["model"]["encoder"] = "conv"  # 16×16 images are fine for conv (divisible by 16)
    config["model"]["latent_dim"] = 0
    with pytest.raises(ConfigError, match="config key 'model' \\(vae\\): latent_dim must be >= 1"):
        train(config, tmp_path / "a", progress=False)
    config = json.loads(json.dumps(tiny_config))
    config["train"]["batch_size"] = 1000
    with pytest.raises(ConfigError, match="'train.batch_size': 1000 is larger than the dataset"):
        train(config, tmp_path / "b", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            Trainer(tiny_config, tmp_path / "c", device="cuda")


@pytest.mark.parametrize(
    "regularizers, model_change, message",
    [
        ([{"name": "grouped_tc", "grouping_factor": 3}], {},
         "'regularizers' \\(grouped_tc\\) do not fit together: grouping_factor 3 does not divide the latent size 4"),
        ([{"name": "tc", "gamma": 2.0}], {"prior": {"lp_nested": {"p0": 2.0, "groups": [[2.1, 2], [2.1, 2]]}}},
         "'regularizers' \\(tc\\) do not fit together: .*L\\^p-nested"),
    ],
)
def test_regularizers_that_do_not_fit_the_model_fail_before_step_one(
    tiny_config, tmp_path, regularizers, model_change, message
):
    config = json.loads(json.dumps(tiny_config))
    config["regularizers"] = regularizers
    config["model"].update(model_change)
    with pytest.raises(ConfigError, match=message):
        train(config, tmp_path, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()  # nothing ran


def test_overrides_and_config_files(tmp_path):
    data = {"train": {"steps": 3}, "regularizers": [{"name": "tc", "beta": 6}]}
    out = apply_overrides(data, ["train.steps=7", "regularizers.0.beta=2.5", "model.latent_dim=4"])
    assert out["train"]["steps"] == 7 and out["regularizers"][0]["beta"] == 2.5 and out["model"]["latent_dim"] == 4
    assert data["train"]["steps"] == 3  # the input is not mutated
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides(data, ["train.steps"])
    with pytest.raises(ConfigError, match="index 3 out of range"):
        apply_overrides(data, ["regularizers.3.beta=1"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_embedded_quickstart_matches_configs_folder():
    from pathlib import Path

    repo_copy = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"
    assert quickstart_config_path().read_text() == repo_copy.read_text()
    config = load_config(None)
    assert config.regularizers[0].name == "tc" and config.regularizers[0].options["beta"] == 6


def test_cli_reports_user_errors_without_traceback(tmp_path, capsys):
    from pyrodisent.cli import main

    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert "pyrodisent train: error: config file" in err and "Traceback" not in err
    assert main(["train", "--set", "train.steps=0", "--max-steps", "1"]) == 2
    assert "'train.steps': must be an integer >= 1" in capsys.readouterr().err


def test_diagnostics_are_logged_during_training(tiny_config, tmp_path):
    config = json.loads(json.dumps(tiny_config))
    config["train"].update(steps=6, diagnostics_every=3, diagnostics_size=64)
    train(config, tmp_path, progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert {"diagnostics/tc_mean", "diagnostics/tc_sample"} <= set(acc.Tags()["scalars"])
    values = [e.value for e in acc.Scalars("diagnostics/tc_sample")]
    assert len(values) == 2 and all(v >= 0 for v in values)  # a Gaussian TC is a KL: never negative
