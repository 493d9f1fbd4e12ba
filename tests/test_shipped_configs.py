"""Every config and sweep file we ship passes the checks `pyrodisent train` and
`pyrodisent sweep` make before anything runs, so none of them fails at a user's first try."""

from pathlib import Path

import pytest

from pyrodisent.engine.config import load_config
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
}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_sweep_file_validates_every_trial(path):
    trials = load_sweep(path).trials(validate=True)
    assert trials and len({t.trial_id for t in trials}) == len(trials)
    if path.name in TRIALS:
        assert len(trials) == TRIALS[path.name]
