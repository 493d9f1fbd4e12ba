"""A sweep's held-out evaluation (evaluate.test_data, evaluate.elbo_terms), the run's own latent
groups as a metric option, and re-scoring finished trials without training them again."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from pyrodisent.data import FactorDataset
from pyrodisent.data.synthetic import groupwise
from pyrodisent.diagnostics import elbo_terms
from pyrodisent.engine import load_run
from pyrodisent.engine.config import parse_config
from pyrodisent.metrics import partial_disentanglement_score
from pyrodisent.sweep.report import write_report
from pyrodisent.sweep.runner import reevaluate_sweep, run_latent_groups, run_sweep
from pyrodisent.sweep.spec import parse_sweep


def _spec(evaluate):
    return parse_sweep({
        "name": "heldout",
        "base": {
            "seed": 0, "device": "cpu",
            "model": {"name": "vae", "encoder": "linear", "latent_dim": 6, "likelihood": "gaussian",
                      "gaussian_scale": 0.5},
            "data": {"name": "groupwise", "options": {"n": 256, "seed": 0}},
            "regularizers": [],
            "train": {"steps": 6, "batch_size": 64, "log_every": 3, "checkpoint_every": 3, "image_every": 0},
        },
        "grid": [{"key": "regularizers", "name": "method", "values": [
            [], [{"name": "pc", "beta": 4.0, "num_groups": 3, "group_rank": 2}]]}],
        "evaluate": evaluate,
        "paper": {"source": "a table", "by": "method", "columns": {"R2": "metric.aligned_r2"},
                  "rows": {"[]": {"R2": [0.5, 0.1]}}},
    })


def test_run_latent_groups_reads_the_grouped_regularizer():
    base = {"model": {"name": "vae"}, "data": {"name": "groupwise"}}
    grouped = parse_config({**base, "regularizers": [{"name": "tc"}, {"name": "pc", "groups": [4, 2]}]})
    assert run_latent_groups(grouped, 6) == [[0, 1, 2, 3], [4, 5]]
    assert run_latent_groups(parse_config({**base, "regularizers": [{"name": "tc"}]}), 6) is None
    # ISA-VAE: the subspaces of its L^p-nested prior are its groups
    isa = {"name": "vae", "prior": {"lp_nested": {"p0": 2.0, "groups": [[2.1, 2], [2.1, 4]]}}}
    assert run_latent_groups(parse_config({**base, "model": isa, "regularizers": []}), 6) == [[0, 1], [2, 3, 4, 5]]


def test_metrics_run_on_the_held_out_draw_and_rescoring_keeps_the_models(tmp_path):
    out = tmp_path / "sweep"
    run_sweep(_spec({}), out, use_ray=False, log=None)
    trials = sorted(p for p in (out / "trials").iterdir())
    mtimes = [(t / "checkpoint.pt").stat().st_mtime_ns for t in trials]
    evaluate = {"metrics": ["partial_disentanglement"], "fast": False, "test_data": {"seed": 1, "n": 300},
                "options": {"partial_disentanglement": {"code_groups": "regularizer"}}}
    assert reevaluate_sweep(_spec(evaluate), out, log=None) == 2
    assert [(t / "checkpoint.pt").stat().st_mtime_ns for t in trials] == mtimes  # nothing retrained
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 2
    assert [row["method"] for row in rows] == ["[]", rows[1]["method"]] and "pc" in rows[1]["method"]
    for row in rows:
        r2 = float(row["metric.aligned_r2"])
        assert -1 < r2 <= 1 and float(row["metric.partial_correlation"]) > 0
    # the held-out set is the one scored: 300 points of data seed 1, not the 256 training points
    report = write_report(out)
    table = (out / "report" / "paper_comparison.md").read_text()
    assert "| [] | " in table and " (n=1) | 0.50 (0.10) |" in table and "paper_comparison.md" in "\n".join(report["lines"])
    for t in trials:
        scores = json.loads((t / "sweep_evaluation.json").read_text())["metrics"]
        model, _, config = load_run(t)
        groups = run_latent_groups(config, 6)
        expected = partial_disentanglement_score(model, groupwise(n=300, seed=1), 0, code_groups=groups)
        assert scores["aligned_r2"] == expected["aligned_r2"]
        assert scores["partial_correlation"] == expected["partial_correlation"]


def test_grouped_mig_groups_option_takes_the_runs_own_groups():
    from pyrodisent.sweep.runner import _metric_options
    from pyrodisent.sweep.spec import Evaluation

    base = {"model": {"name": "vae"}, "data": {"name": "groupwise"}}
    evaluation = Evaluation(metrics=["grouped_mig"], options={"grouped_mig": {"groups": "regularizer"}})
    grouped = parse_config({**base, "regularizers": [{"name": "grouped_tc", "grouping_factor": 2}]})
    assert _metric_options(evaluation, grouped, 6)["grouped_mig"]["groups"] == [[0, 1], [2, 3], [4, 5]]
    ungrouped = parse_config({**base, "regularizers": [{"name": "tc"}]})
    assert _metric_options(evaluation, ungrouped, 6)["grouped_mig"]["groups"] is None  # per dim


def test_elbo_terms_are_scored_on_the_held_out_points_as_eval_columns(tmp_path):
    out = tmp_path / "sweep"
    run_sweep(_spec({}), out, use_ray=False, log=None)
    assert reevaluate_sweep(_spec({"elbo_terms": True, "size": 128}), out, log=None) == 2
    rows = list(csv.DictReader(open(out / "results.csv")))
    for row, trial in zip(rows, sorted((out / "trials").iterdir(), key=lambda p: int(json.loads(
            (p / "trial.json").read_text())["index"]))):
        model, dataset, config = load_run(trial)
        gen = torch.Generator().manual_seed(config.seed + 3)
        x = FactorDataset.batch_to_float(dataset.images[torch.randperm(len(dataset), generator=gen)[:128]])
        expected = elbo_terms(model, x, gen)
        assert {k: float(row[f"eval.{k}"]) for k in expected} == pytest.approx(expected, rel=1e-6)
        assert expected["kl"] > 0 and expected["reconstruction"] > 0


def test_dataset_tc_is_scored_with_the_runs_groups_as_eval_columns(tmp_path):
    from pyrodisent.diagnostics import dataset_total_correlation

    out = tmp_path / "sweep"
    run_sweep(_spec({}), out, use_ray=False, log=None)
    assert reevaluate_sweep(_spec({"dataset_tc": True, "size": 200}), out, log=None) == 2
    rows = {row["method"]: row for row in csv.DictReader(open(out / "results.csv"))}
    for trial in (out / "trials").iterdir():
        model, dataset, config = load_run(trial)
        gen = torch.Generator().manual_seed(config.seed + 4)
        x = FactorDataset.batch_to_float(dataset.images[torch.randperm(len(dataset), generator=gen)[:200]])
        groups = run_latent_groups(config, 6)
        expected = dataset_total_correlation(model, x, gen, groups=groups)
        row = rows["[]" if groups is None else next(k for k in rows if "pc" in k)]
        assert {k: float(row[f"eval.dataset_{k}"]) for k in expected} == pytest.approx(expected, rel=1e-6)
        assert ("eval.dataset_tc_joint" in row and row["eval.dataset_tc_joint"] != "") == (groups is not None)
