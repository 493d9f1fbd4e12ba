"""evaluate_run, evaluate_metrics, the ``metrics`` plugin registry and ``pyrodisent evaluate``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from pyrodisent import metrics
from pyrodisent.data import FactorDataset
from pyrodisent.plugin_manager import get_component

ROOT = Path(__file__).resolve().parents[2]
SIZES = [3, 4, 5]


def image_dataset() -> FactorDataset:
    """4×4 single-channel images whose first row holds the factors scaled to [0, 1]."""
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in SIZES], indexing="ij"), -1).reshape(-1, 3)
    images = torch.zeros(len(grid), 1, 4, 4)
    images[:, 0, 0, :3] = torch.tensor(grid / (np.array(SIZES) - 1), dtype=torch.float32)
    return FactorDataset(images, grid, ["a", "b", "c"], SIZES)


class FactorEncoder(nn.Module):
    """encode(x) reads the factors back (a perfect representation) with a fixed posterior scale."""

    latent_dim = 3

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.1))

    def encode(self, x):
        loc = x[:, 0, 0, :3] * torch.tensor([s - 1.0 for s in SIZES])
        return loc, self.scale.expand_as(loc)

    def mean_image(self, z):
        img = torch.zeros(z.shape[0], 1, 4, 4)
        img[:, 0, 0, :3] = torch.sigmoid(z)
        return img


SMALL = {
    "mig": {"num_train": 600},
    "sap": {"num_train": 600, "num_test": 300, "continuous_factors": True},
    "factor_vae": {"num_variance_estimate": 500, "num_train": 100, "num_eval": 50},
    "gaussian_tc": {"num_points": 500},
    "partial_correlation": {"num_points": 300, "groups": [1, 2]},
    "omniscient": {"num_points": 300},
}


def test_evaluate_run_writes_json_tensorboard_and_plots(tmp_path):
    result = metrics.evaluate_run(
        FactorEncoder(),
        image_dataset(),
        list(SMALL),
        out_dir=tmp_path,
        random_state=0,
        options=SMALL,
        progress=False,
        plot_points=600,
    )
    written = json.loads((tmp_path / "evaluation.json").read_text())
    assert written["scores"] == pytest.approx(result["scores"])
    assert set(written["seconds"]) == set(SMALL)
    assert written["scores"]["mig"] > 0.95
    assert written["scores"]["sap"] > 0.95
    assert written["scores"]["factor_vae/eval_accuracy"] == 1.0
    assert written["scores"]["tc_mean"] == pytest.approx(0.0, abs=0.02)  # independent factors
    assert written["scores"]["omniscient/count"] == 0.0
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    names = {Path(p).name for p in result["plots"]}
    assert names == {"latent_traversals.png", "mi_heatmap.png", "latent_mi.png", "latent_pairs.png"}
    for p in result["plots"]:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tensorboard_log_holds_the_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    metrics.evaluate_run(
        FactorEncoder(),
        image_dataset(),
        ["mig"],
        out_dir=tmp_path,
        options={"mig": SMALL["mig"]},
        plots=False,
        progress=False,
    )
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    value = json.loads((tmp_path / "evaluation.json").read_text())["scores"]["mig"]
    assert acc.Scalars("evaluation/mig")[0].value == pytest.approx(value, rel=1e-6)


def test_each_metric_gets_a_fresh_random_state():
    data = image_dataset()
    alone = metrics.evaluate_metrics(
        FactorEncoder(), data, ["mig"], 0, options={"mig": SMALL["mig"]}
    )
    after = metrics.evaluate_metrics(
        FactorEncoder(), data, ["sap", "mig"], 0, options={"mig": SMALL["mig"], "sap": SMALL["sap"]}
    )
    assert after["mig"] == alone["mig"]


def test_evaluate_metrics_with_plain_represent_and_fast_defaults():
    data = image_dataset()

    def represent(x):
        return FactorEncoder().encode(x)[0]

    scores = metrics.evaluate_metrics(
        represent, data, ["mig", "active_units"], random_state=1, fast=True
    )
    assert scores["mig"] > 0.95 and scores["active_units"] == 3.0
    with pytest.raises(ValueError, match="posterior"):
        metrics.evaluate_metrics(represent, data, ["gaussian_tc"], random_state=1, fast=True)


def test_sampled_representation_adds_posterior_noise():
    data = image_dataset()
    gen = torch.Generator().manual_seed(0)
    sampled = metrics.Representation(FactorEncoder().encode, sampled=True, generator=gen)
    x = data.sample_observations_from_factors(data.sample_factors(2000, 0), 0)
    loc = FactorEncoder().encode(x)[0].numpy()
    assert np.std(sampled(x) - loc) == pytest.approx(0.1, rel=0.05)


def test_every_builtin_metric_is_registered_through_the_plugin_hook():
    for name, function in metrics.BUILTIN_METRICS.items():
        assert get_component("metrics", name) is function
    with pytest.raises(KeyError, match="unknown metric"):
        metrics.evaluate_metrics(lambda x: x, image_dataset(), ["no_such_metric"], 0)


def test_config_defaults_file_matches_the_code():
    """configs/metrics/*.yaml show the reference and fast defaults; they must be the code's."""
    reference = yaml.safe_load((ROOT / "configs" / "metrics" / "reference.yaml").read_text())
    fast = yaml.safe_load((ROOT / "configs" / "metrics" / "fast.yaml").read_text())
    assert set(reference["metrics"]) == set(metrics.BUILTIN_METRICS)
    assert reference["default_suite"] == list(metrics.DEFAULT_METRICS)
    for name, options in reference["metrics"].items():
        params = inspect.signature(metrics.BUILTIN_METRICS[name]).parameters
        for key, value in options.items():
            default = params[key].default
            assert (list(default) if isinstance(default, tuple) else default) == value, (name, key)
    assert fast["metrics"] == metrics.FAST_OPTIONS


def test_cli_evaluate_uses_load_run_and_writes_into_the_run_dir(tmp_path, monkeypatch, capsys):
    import pyrodisent.engine
    from pyrodisent.cli import main

    monkeypatch.setattr(
        pyrodisent.engine,
        "load_run",
        lambda run_dir, device="cpu": (FactorEncoder(), image_dataset(), {}),
    )
    code = main(
        ["evaluate", str(tmp_path), "--metrics", "mig", "active_units", "--fast", "--no-progress"]
    )
    assert code == 0
    scores = json.loads((tmp_path / "evaluation.json").read_text())["scores"]
    assert scores["mig"] > 0.9 and scores["active_units"] == 3.0
    assert (tmp_path / "plots" / "mi_heatmap.png").is_file()
    assert "mig" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path), "--metrics", "nope"]) == 2
    assert "unknown metric 'nope'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing")]) == 2


def test_docs_examples_run():
    import re

    blocks = re.findall(
        r"```python\n(.*?)```", (ROOT / "docs" / "metrics.md").read_text(), flags=re.DOTALL
    )
    assert len(blocks) == 3
    for code in blocks:
        namespace: dict = {"__name__": "__doc_example__"}
        exec(compile(code, "docs/metrics.md", "exec"), namespace)  # noqa: S102 (the docs' own examples)
    assert namespace["pyrodisent_metrics"]()["code_variance"] is namespace["code_variance"]
