"""Every config and sweep file we ship passes the checks `pyrodisent train` and
`pyrodisent sweep` make before anything runs, so none of them fails at a user's first try."""

from pathlib import Path

import pytest

from pyrodisent.engine.config import load_config
from pyrodisent.engine.trainer import train
from pyrodisent.sweep.spec import load_sweep

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RUN_CONFIGS = sorted(CONFIGS.glob("*.yaml"))
SWEEPS = sorted((CONFIGS / "sweeps").glob("*.yaml"))


def test_the_folders_are_not_empty():
    assert len(RUN_CONFIGS) >= 20 and len(SWEEPS) >= 14
    assert set(TRIALS) <= {p.name for p in SWEEPS}  # every counted sweep file exists


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_run_config_validates(path):
    config = load_config(path)
    assert config.model.name and config.data.name and config.train.steps > 0


# The trial counts docs/sweeps.md states for each paper's experiment.
TRIALS = {
    "stcvae-capacity.yaml": 40_920,
    "rtcvae-tc.yaml": 50,
    "mi-correlated.yaml": 60,
    "devae-betas.yaml": 15,
    "devae-ablation.yaml": 20,
    "devae-scale.yaml": 20,
    "mi-correlated-cpu.yaml": 18,
    "rtcvae-tc-cpu.yaml": 18,
    "stcvae-tc-digits-cpu.yaml": 115,
    "devae-ablation-cpu.yaml": 12,
    "stcvae-tc-mnist.yaml": 1150,
    "pdisvae-pdsprites-gpu.yaml": 15,
}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_sweep_file_validates_every_trial(path):
    trials = load_sweep(path).trials(validate=True)
    assert trials and len({t.trial_id for t in trials}) == len(trials)
    if path.name in TRIALS:
        assert len(trials) == TRIALS[path.name]


CPU_TEST_BED = sorted((CONFIGS / "sweeps").glob("*-cpu.yaml"))


@pytest.mark.parametrize("path", CPU_TEST_BED, ids=lambda p: p.name)
def test_every_method_of_a_cpu_test_bed_sweep_trains_a_few_steps(path, tmp_path):
    """The CPU-scale reproductions (docs/results.md) run as written: one trial per distinct
    guide, latent size and set of regularizers (with their grouping), three steps each."""
    seen = set()
    for trial in load_sweep(path).trials():
        config = dict(trial.config)
        model = config["model"]
        key = (model.get("rho"), model["latent_dim"], model.get("connection"), tuple(model.get("betas", ())),
               tuple((r["name"], r.get("grouping_factor")) for r in config["regularizers"]))
        if key in seen:
            continue
        seen.add(key)
        config["train"] = {**config["train"], "steps": 3, "log_every": 1, "checkpoint_every": 3}
        summary = train(config, tmp_path / trial.trial_id)
        assert summary["steps_done"] == 3
    assert len(seen) >= 2
