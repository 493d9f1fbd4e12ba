"""Trial records, retries (in-process executor), the results table and the report's numbers."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from pyrodisent import Regularizer, hookimpl
from pyrodisent.plugin_manager import get_plugin_manager
from pyrodisent.sweep.report import (
    best_grouping_coefficients,
    largest_proper_divisor,
    latent_dim_panels,
    plot_metric_violins,
    plot_per_layer,
    plot_tc_mean_vs_sample,
    plot_tc_trajectories,
    plot_tc_vs_grouping,
    write_report,
)
from pyrodisent.sweep.runner import run_sweep
from pyrodisent.sweep.spec import parse_sweep
from pyrodisent.sweep.state import SweepDir, write_json_atomic


class _FailUntilMarker(Regularizer):
    """Raises RuntimeError on training steps until ``marker`` exists (creating it): a crash
    on the first attempt only; ``always`` raises on every attempt."""

    name = "fail_until_marker"

    def __init__(self, marker: str = "", always: bool = False):
        super().__init__()
        self.marker, self.always = Path(marker), always

    def penalty(self, posterior):
        at_step_5 = posterior.training and posterior.step == 5
        if at_step_5 and (self.always or not self.marker.exists()):
            self.marker.touch()
            raise RuntimeError(f"simulated crash at step 5 ({self.marker.name})")
        return {}


class _Plugin:
    @hookimpl
    def pyrodisent_regularizers(self):
        return {"fail_until_marker": _FailUntilMarker}


@pytest.fixture
def failing_plugin():
    manager = get_plugin_manager()
    name = manager.register_plugin(_Plugin(), "tests-sweep-failing")
    yield
    manager.unregister_plugin(name)


def test_crashed_trials_are_retried_up_to_max_attempts_in_process(tiny_config, failing_plugin, tmp_path):
    base = dict(tiny_config, regularizers=[{"name": "tc", "beta": 6.0},
                                           {"name": "fail_until_marker", "marker": "${marker}", "always": "${always}"}])
    spec = parse_sweep({
        "base": base,
        "grid": [{"zip": [{"name": "marker", "values": [str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "c")]},
                          {"name": "always", "values": [False, True, False]}]}],
        "max_attempts": 2,
    })
    logs: list[str] = []
    counts = run_sweep(spec, tmp_path / "sweep", use_ray=False, log=logs.append)
    assert counts["finished"] == 2 and counts["failed"] == 1
    sweep = SweepDir(tmp_path / "sweep")
    records = [sweep.read(t.trial_id) for t in spec.trials()]
    assert [r["state"] for r in records] == ["finished", "failed", "finished"]
    assert [r["attempts"] for r in records] == [2, 2, 2]
    assert "RuntimeError: simulated crash at step 5" in records[1]["error"]
    assert records[0]["error"] is None
    # the retried trial resumed from its checkpoint (step 4) and trained to the end
    summary = json.loads((sweep.trial_dir(records[0]["trial"]) / "summary.json").read_text())
    assert summary["steps_done"] == tiny_config["train"]["steps"]
    assert sum(line.startswith("retrying") for line in logs) == 3
    # a rerun skips finished trials and gives the failed one a fresh budget of attempts
    counts = run_sweep(spec, tmp_path / "sweep", use_ray=False, log=None)
    assert counts["ran"] == 1 and counts["failed"] == 1
    assert sweep.read(records[1]["trial"])["attempts"] == 4
    assert sweep.read(records[0]["trial"])["attempts"] == 2


def test_prepare_keeps_records_and_writes_atomically(tmp_path):
    spec = parse_sweep({"base": {"model": {"name": "vae"}, "data": {"name": "generated_dsprites"}},
                        "grid": {"train.steps": [1, 2]}})
    trials = spec.trials()
    sweep = SweepDir(tmp_path)
    records = sweep.prepare(spec, trials)
    assert [r["state"] for r in records.values()] == ["pending", "pending"]
    assert not list(sweep.trials_root.iterdir())  # records are written when trials are submitted
    for t in trials:
        sweep.describe(t, records[t.trial_id])
    assert sweep.read(trials[1].trial_id)["config"]["train"]["steps"] == 2
    sweep.update(trials[0].trial_id, state="finished", attempts=1)
    again = sweep.prepare(spec, trials)
    assert again[trials[0].trial_id]["state"] == "finished" and again[trials[1].trial_id]["state"] == "pending"
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(ValueError, match="trial state must be one of"):
        sweep.update(trials[0].trial_id, state="done")
    # a torn file (not written by write_text_atomic) reads as no record
    sweep.record_path(trials[1].trial_id).write_text('{"trial": "x", "sta')
    assert sweep.read(trials[1].trial_id) is None
    write_json_atomic(tmp_path / "x.json", {"a": 1})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}
    rows = sweep.rows()
    assert rows[0]["config.train.steps"] == 1 and rows[0]["state"] == "finished"
    assert rows[1]["state"] == "pending" and rows[1]["train.steps"] == 2  # the axis column survives


def test_grouping_coefficient_normalizer_matches_stcvae_paper():
    # Chen et al. 2022, §4.4.1: n = 12 -> grouping factors [1, 2, 3, 4, 6], coefficients i/6
    assert largest_proper_divisor(12) == 6 and largest_proper_divisor(7) == 1 and largest_proper_divisor(20) == 10
    # Fig. 5: the β-TCVAE reference is the mean of 1/m over latent dims [6, 8, ..., 20] = 0.178
    rows = [{"capacity": 100, "latent_dim": n, "grouping_factor": 1, "loss.elbo": -1.0} for n in range(6, 21, 2)]
    _, _, reference = best_grouping_coefficients(rows)
    assert math.isclose(reference, 0.178, abs_tol=1e-3)  # exactly 0.17857...


def test_best_elbo_grouping_coefficient_takes_the_best_seed_mean_per_capacity():
    rows = []
    # capacity 100: (12, i=2) is best on average over two seeds; capacity 500: (8, i=4)
    for cap, best in ((100, (12, 2)), (500, (8, 4))):
        for n, factors in ((12, (1, 2, 3, 4, 6)), (8, (1, 2, 4))):
            for i in factors:
                for seed, noise in ((0, 0.4), (1, -0.4)):
                    elbo = -10.0 + (5.0 if (n, i) == best else 0.0) + noise
                    rows.append({"capacity": cap, "latent_dim": n, "grouping_factor": i, "seed": seed,
                                 "loss.elbo": elbo, "beta": 6})
    rows.append({**rows[0], "loss.elbo": -9.0 + 0.39})  # one lucky seed does not win: means are compared
    best, cols, _ = best_grouping_coefficients(rows)
    assert cols["capacity"] == "capacity" and cols["strength"] is None  # β does not vary
    assert best == {(100.0, None): 2 / 6, (500.0, None): 4 / 4}


def test_plots_are_drawn_or_explained(tmp_path):
    rows = []
    for model in ("factorvae", "rtcvae"):
        for strength in (2, 10, 50):
            for seed in range(3):
                rows.append({"model": model, "strength": strength, "seed": seed, "tc_mean": 1.0 + strength / 10 + seed,
                             "tc_sample": 0.5 + seed, "metric.mig": 0.1 * seed, "rho": 0.9 if seed else 0.0})
    assert plot_tc_mean_vs_sample(rows, tmp_path / "a.png").startswith("wrote a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000
    lines = plot_metric_violins(rows, tmp_path)
    assert lines == ["wrote violin_mig.png: metric.mig over 2 model(s), split by rho"]
    note = plot_tc_vs_grouping(rows, tmp_path / "b.png")
    assert note.startswith("skipped tc_vs_grouping_factor.png (Chen et al. 2022, Fig. 3): no column for grouping_factor")
    assert not (tmp_path / "b.png").exists()
    tc_rows = [{"grouping_factor": i, "latent_dim": 12, "loss.grouped_tc/tc": 3.0 / i} for i in (1, 2, 3)]
    assert plot_tc_vs_grouping(tc_rows, tmp_path / "c.png").startswith("wrote c.png: loss.grouped_tc/tc against")
    # evaluate.dataset_tc adds a row per measure; a trial without the value is left out of that row
    for row in tc_rows:
        row.update({"eval.dataset_tc": 0.1 * row["grouping_factor"], "eval.dataset_tc_joint": 0.05})
    tc_rows.append({"grouping_factor": 4, "latent_dim": 12, "loss.grouped_tc/tc": 0.7, "eval.dataset_tc": "",
                    "eval.dataset_tc_joint": "nan"})
    assert plot_tc_vs_grouping(tc_rows, tmp_path / "c.png") == (
        "wrote c.png: loss.grouped_tc/tc, eval.dataset_tc, eval.dataset_tc_joint against grouping_factor for 1 latent dim(s)")
    assert plot_per_layer(rows, tmp_path / "d.png").startswith("skipped per_layer.png (DeVAE, Table 2)")
    layer_rows = [{"model": "single", "metric.mig/layer0": 0.2, "metric.reconstruction/layer0": 40.0}] + [
        {"model": "devae", "metric.mig/layer0": 0.3, "metric.mig/layer1": 0.3, "metric.mig/layer2": 0.3,
         "metric.reconstruction/layer0": 43.0, "metric.reconstruction/layer1": 75.0,
         "metric.reconstruction/layer2": 176.0}
    ]
    assert plot_per_layer(layer_rows, tmp_path / "d.png") == (
        "wrote d.png: mig, reconstruction per layer for 2 model(s)"
    )
    assert (tmp_path / "d.png").stat().st_size > 1000


def test_latent_dims_n_and_2n_share_a_panel_as_in_chen_2022_fig_3():
    assert latent_dim_panels([12, 6, 20, 8, 16, 10, 6]) == [(6, 12), (8, 16), (10, 20)]
    assert latent_dim_panels([4, 8, 16, 5]) == [(4, 8), (5,), (16,)]


def test_tc_trajectories_are_read_from_each_trials_tensorboard_log(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    sweep = SweepDir(tmp_path)
    rows = []
    # two seeds of 6_1 (TC = 2 * seed at every step, so mean 3), one of 12_2
    for trial, (n, i, seed) in enumerate([(6, 1, 1), (6, 1, 2), (12, 2, 1)]):
        tid = f"t{trial}"
        with SummaryWriter(str(sweep.trial_dir(tid) / "tb")) as writer:
            for step in (100, 200):
                writer.add_scalar("loss/grouped_tc/tc", 2.0 * seed + (n == 12) * step / 100, step)
        rows.append({"trial": tid, "latent_dim": n, "grouping_factor": i, "seed": seed, "loss.grouped_tc/tc": 0.0})
    rows.append({"trial": "no_log", "latent_dim": 6, "grouping_factor": 2, "seed": 1, "loss.grouped_tc/tc": 0.0})
    note = plot_tc_trajectories(sweep, rows, tmp_path / "tc.png")
    assert note == "wrote tc.png and tc.csv: grouped_tc/tc curves of 2 (latent dim, grouping factor) pair(s)"
    with open(tmp_path / "tc.csv", newline="") as f:
        recs = list(csv.DictReader(f))
    assert {r["term"] for r in recs} == {"grouped_tc/tc"}  # no tc_joint was logged
    recs = [{k: float(v) for k, v in r.items() if k != "term"} for r in recs]
    first = [r for r in recs if r["latent_dim"] == 6]
    assert [(r["step"], r["n"]) for r in first] == [(100, 2), (200, 2)]
    assert first[0]["mean"] == pytest.approx(3.0)
    assert first[0]["p5"] == pytest.approx(2.1) and first[0]["p95"] == pytest.approx(3.9)  # numpy's linear percentiles of {2, 4}
    assert [r["mean"] for r in recs if r["latent_dim"] == 12] == pytest.approx([3.0, 4.0])
    assert (tmp_path / "tc.png").stat().st_size > 1000
    assert plot_tc_trajectories(sweep, [rows[-1]], tmp_path / "none.png") == (
        "skipped tc_trajectories.png (Chen et al. 2022, Fig. 3): no TensorBoard TC curve in the trial folders"
    )


def test_report_on_a_sweep_directory(tiny_config, tmp_path):
    spec = parse_sweep({"base": tiny_config, "grid": [{"key": "regularizers.0.beta", "name": "beta", "values": [1.0, 6.0]}],
                        "evaluate": {"gaussian_tc": True, "size": 32}})
    run_sweep(spec, tmp_path, use_ray=False, log=None)
    report = write_report(tmp_path)
    assert report["plots"] == ["tc_mean_vs_tc_sample.png"]
    assert report["lines"][0] == "2 trials: 2 finished"
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["beta"]) for r in rows] == [1.0, 6.0]
    # Chen et al. 2022 Figs. 5, 7, 3 (final TC and curves); DeVAE Table 2; Locatello et al. 2019 Figs. 3, 2
    assert (tmp_path / "report" / "report.txt").read_text().count("skipped") == 7


def test_without_ray_the_command_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    import sys

    from pyrodisent.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    path = tmp_path / "s.yaml"
    path.write_text("base: {model: {name: vae}, data: {name: generated_dsprites}}\n")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'pyrodisent[sweep]'" in err and "--no-ray" in err
    assert not (tmp_path / "out").exists()


def test_a_second_driver_on_the_same_directory_is_refused(tmp_path):
    from pyrodisent.sweep.spec import SweepError

    sweep = SweepDir(tmp_path)
    busy = r"is being run by another `pyrodisent sweep` \(pid \d+"
    with sweep.lock(), pytest.raises(SweepError, match=busy), SweepDir(tmp_path).lock():
        pass
    with SweepDir(tmp_path).lock():  # released on exit
        pass


def test_per_layer_scores_of_a_devae_trial(tiny_config, tmp_path):
    # The DeVAE paper's Table 2 scores MIG and reconstruction per layer: evaluate.layers does so.
    from pyrodisent.engine import train
    from pyrodisent.errors import UserError
    from pyrodisent.sweep.runner import evaluate_trial
    from pyrodisent.sweep.spec import Evaluation

    config = dict(tiny_config, regularizers=[])
    config["model"] = dict(config["model"], name="devae", betas=[1.0, 10.0])
    train(config, tmp_path / "devae", progress=False)
    evaluation = Evaluation(metrics=["mig"], fast=True, size=32, layers=[0, 1, 2])
    out = evaluate_trial(tmp_path / "devae", evaluation)["metrics"]
    assert {"mig", "mig/layer0", "mig/layer1", "reconstruction/layer0", "reconstruction/layer1"} <= set(out)
    assert not any(k.endswith("layer2") for k in out)  # the model has two layers: 2 is skipped
    assert out["mig/layer0"] == out["mig"]  # layer 0 is the representation layer
    # −log p(x|z_i) per image (checked against the formula in tests/models/test_devae.py),
    # from the same draws on a rerun
    assert all(math.isfinite(out[f"reconstruction/layer{i}"]) for i in (0, 1))
    assert evaluate_trial(tmp_path / "devae", evaluation)["metrics"] == out

    train(tiny_config, tmp_path / "vae", progress=False)
    with pytest.raises(UserError, match="evaluate.layers is for models with latent layers"):
        evaluate_trial(tmp_path / "vae", evaluation)
