"""Sweeps on a local Ray: a 2 × 2 grid, a failing trial, a killed worker, a killed sweep.

One Ray instance (2 CPUs) serves the whole module; the killed-sweep test runs its driver
in a subprocess that joins it with ``--address``. Trials train a small MLP β-TCVAE on a
512-image generated dSprites for a few dozen steps.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import ray
import yaml

from pyrodisent.engine import load_run
from pyrodisent.sweep.report import write_report
from pyrodisent.sweep.runner import run_sweep
from pyrodisent.sweep.spec import parse_sweep
from pyrodisent.sweep.state import SweepDir

BASE = {
    "seed": 0,
    "device": "cpu",
    "model": {"name": "vae", "encoder": "mlp", "latent_dim": 4, "hidden_width": 32, "hidden_layers": 0},
    "data": {"name": "generated_dsprites", "options": {"shapes": 2, "scales": 2, "orientations": 2, "positions": 8}},
    "regularizers": [{"name": "tc", "beta": "${strength}"}],
    "train": {"steps": 20, "batch_size": 32, "log_every": 10, "checkpoint_every": 10, "image_every": 0},
}


def sweep_data(**keys):
    data = {"name": "test", "base": copy.deepcopy(BASE), "resources": {"num_cpus": 1}}
    data.update(keys)
    return data


@pytest.fixture(scope="module")
def ray_address():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_grid_of_four_gives_four_run_directories_and_a_four_row_table(ray_address, tmp_path):
    spec = parse_sweep(sweep_data(
        grid=[{"key": "model.latent_dim", "name": "latent_dim", "values": [3, 4]},
              {"name": "strength", "values": [1.0, 6.0]}],
        evaluate={"gaussian_tc": True, "size": 64, "metrics": ["mig"]},
    ))
    counts = run_sweep(spec, tmp_path, log=None)
    assert counts == {"finished": 4, "failed": 0, "total": 4, "ran": 4}
    run_dirs = sorted(p for p in (tmp_path / "trials").iterdir() if p.is_dir())
    assert len(run_dirs) == 4
    for run_dir in run_dirs:
        assert {"config.yaml", "checkpoint.pt", "summary.json", "trial.json", "sweep_evaluation.json"} <= {
            p.name for p in run_dir.iterdir()}
        model, dataset, config = load_run(run_dir)  # an ordinary run directory
        record = json.loads((run_dir / "trial.json").read_text())
        assert record["state"] == "finished" and record["attempts"] == 1
        assert config.model.options["latent_dim"] == record["params"]["latent_dim"]
        assert config.regularizers[0].options["beta"] == record["params"]["strength"]
    rows = read_csv(tmp_path / "results.csv")
    assert len(rows) == 4
    assert [(int(r["latent_dim"]), float(r["strength"])) for r in rows] == [(3, 1.0), (3, 6.0), (4, 1.0), (4, 6.0)]
    for r in rows:
        assert r["state"] == "finished" and int(r["steps"]) == 20
        assert float(r["wall_time_s"]) > 0 and float(r["loss.elbo"]) < 0
        # the table's KL is the logged one: KL = log-likelihood − ELBO
        assert abs(float(r["loss.kl"]) - (float(r["loss.log_likelihood"]) - float(r["loss.elbo"]))) < 1e-3
        assert float(r["tc_sample"]) >= 0 and float(r["tc_mean"]) >= 0
        assert r["method"] == "vae+tc"
        assert 0 <= float(r["metric.mig"]) <= 1
    report = write_report(tmp_path)
    assert {"tc_mean_vs_tc_sample.png", "violin_mig.png"} <= set(report["plots"])
    text = "\n".join(report["lines"])
    assert "skipped best_elbo_grouping.png" in text and "grouping_factor" in text


def test_a_trial_that_raises_is_recorded_as_failed_while_the_others_finish(ray_address, tmp_path):
    spec = parse_sweep(sweep_data(
        grid=[{"key": "train.batch_size", "name": "batch", "values": [16, 100000, 32]},
              {"name": "strength", "values": [2.0]}],
    ))
    counts = run_sweep(spec, tmp_path, log=None)
    assert counts["finished"] == 2 and counts["failed"] == 1
    rows = {int(r["batch"]): r for r in read_csv(tmp_path / "results.csv")}
    bad = rows[100000]
    assert bad["state"] == "failed" and "larger than the dataset (512 points)" in bad["error"]
    assert int(bad["attempts"]) == 1  # a config error repeats: not retried
    assert rows[16]["state"] == rows[32]["state"] == "finished"
    record = SweepDir(tmp_path).read(bad["trial"])
    assert "ConfigError" in record["error"] and "Traceback" in record["traceback"]


def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(ray_address, tmp_path):
    spec = parse_sweep(sweep_data(
        grid=[{"name": "strength", "values": [6.0]}],
        base={**copy.deepcopy(BASE), "train": {**BASE["train"], "steps": 200, "checkpoint_every": 20, "log_every": 20}},
    ))
    (trial,) = spec.trials()
    sweep = SweepDir(tmp_path)
    killed: list[int] = []

    def kill_once():
        deadline = time.time() + 60
        while time.time() < deadline:
            record = sweep.read(trial.trial_id) or {}
            if record.get("state") == "running" and (sweep.trial_dir(trial.trial_id) / "checkpoint.pt").exists():
                os.kill(record["pid"], signal.SIGKILL)
                killed.append(record["pid"])
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_once)
    killer.start()
    logs: list[str] = []
    counts = run_sweep(spec, tmp_path, log=logs.append)
    killer.join()
    assert killed, "the worker was never seen running"
    assert counts["finished"] == 1 and counts["failed"] == 0
    record = sweep.read(trial.trial_id)
    assert record["state"] == "finished" and record["attempts"] == 2 and record["pid"] != killed[0]
    assert any(line.startswith("retrying") for line in logs)
    summary = json.loads((sweep.trial_dir(trial.trial_id) / "summary.json").read_text())
    assert summary["steps_done"] == 200


def test_a_killed_sweep_completes_on_rerun_without_redoing_finished_trials(ray_address, tmp_path):
    data = sweep_data(
        grid=[{"key": "model.latent_dim", "name": "latent_dim", "values": [3, 4]},
              {"name": "strength", "values": [1.0, 6.0]}],
        resources={"num_cpus": 2},  # one trial at a time
    )
    data["base"]["train"]["steps"] = 40
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "pyrodisent.cli", "sweep", str(path), "--out", str(out), "--address", ray_address],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    sweep = SweepDir(out)
    deadline = time.time() + 90
    finished: list[str] = []
    try:
        while time.time() < deadline and not finished:
            assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
            if (out / "manifest.json").exists():
                ids = [t["trial"] for t in sweep.manifest()["trials"]]
                finished = [i for i in ids if (sweep.read(i) or {}).get("state") == "finished"]
            time.sleep(0.02)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert finished, "no trial finished within 90 s"
    ids = [t["trial"] for t in sweep.manifest()["trials"]]
    states = {i: (sweep.read(i) or {}).get("state") for i in ids}
    done_before = [i for i in ids if states[i] == "finished"]
    assert len(done_before) < 4, f"the sweep finished before it was killed: {states}"
    # wait until the killed driver's worker is gone (Ray ends the tasks of a dead driver)
    for i in ids:
        pid = (sweep.read(i) or {}).get("pid")
        if states[i] == "running" and pid:
            for _ in range(500):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.02)
    files = {i: {p.name: p.stat().st_mtime_ns for p in sweep.trial_dir(i).iterdir() if p.is_file()} for i in done_before}

    from pyrodisent.sweep.spec import load_sweep

    logs: list[str] = []
    counts = run_sweep(load_sweep(path), out, log=logs.append)
    assert counts["finished"] == 4 and counts["failed"] == 0 and counts["ran"] == 4 - len(done_before)
    assert f"{len(done_before)} already finished" in logs[0]
    for i in done_before:  # untouched: not trained, evaluated or recorded again
        assert {p.name: p.stat().st_mtime_ns for p in sweep.trial_dir(i).iterdir() if p.is_file()} == files[i]
        assert sweep.read(i)["attempts"] == 1
    assert not any(i in line for i in done_before for line in logs[1:-1])
    rows = read_csv(out / "results.csv")
    assert len(rows) == 4 and all(r["state"] == "finished" and int(r["steps"]) == 40 for r in rows)
    assert len([p for p in (out / "trials").iterdir() if p.is_dir()]) == 4
