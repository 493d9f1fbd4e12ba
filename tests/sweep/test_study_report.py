"""The study-style report (Locatello et al. 2019, Figs. 2-3) and UDR of a sweep (Duan et al. 2020)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import scipy.stats

from pyrodisent.sweep.report import (
    metric_rank_correlation,
    plot_metric_rank_correlation,
    plot_study_violins,
    write_report,
)
from pyrodisent.sweep.runner import run_sweep
from pyrodisent.sweep.spec import parse_sweep
from pyrodisent.sweep.udr import seed_groups


def study_rows() -> list[dict]:
    """A fake results table: 2 methods × 2 strengths × 3 seeds, three metrics; as the table
    reads back from results.csv, numbers may be text."""
    rows = []
    rs = np.random.RandomState(0)
    for method in ("vae+tc", "vae+beta_vae"):
        for strength in (1.0, 6.0):
            for seed in range(3):
                mig = rs.uniform()
                rows.append({"method": method, "strength": strength, "seed": seed, "state": "finished",
                             "metric.mig": mig, "metric.sap": str(2 * mig + 1),  # monotone in MIG
                             "metric.dci": -mig ** 3, "metric.mig/factor_0": 0.5})  # reversed MIG
    return rows


def test_rank_correlation_is_scipys_spearman_matrix():
    rows = study_rows()
    rs = np.random.RandomState(1)
    for r in rows:
        r["metric.irs"] = float(rs.randint(3))  # ties
    names, matrix = metric_rank_correlation(rows)
    assert names == ["metric.dci", "metric.irs", "metric.mig", "metric.sap"]  # per-factor columns left out
    table = np.array([[float(r[m]) for m in names] for r in rows])
    np.testing.assert_allclose(matrix, scipy.stats.spearmanr(table).statistic, atol=1e-12)
    mig, sap, dci = names.index("metric.mig"), names.index("metric.sap"), names.index("metric.dci")
    assert matrix[mig, sap] == pytest.approx(1.0, abs=1e-12)  # a monotone pair: 1
    assert matrix[mig, dci] == pytest.approx(-1.0, abs=1e-12)  # a reversed pair: −1


def test_rank_correlation_files_are_written_or_explained(tmp_path):
    rows = study_rows()
    line = plot_metric_rank_correlation(rows, tmp_path)
    assert line == "wrote metric_rank_correlation.png and .csv: Spearman ρ between 3 metrics over 12 trials"
    assert (tmp_path / "metric_rank_correlation.png").stat().st_size > 1000
    with open(tmp_path / "metric_rank_correlation.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["metric"] for r in table] == ["dci", "mig", "sap"]
    assert float(table[1]["sap"]) == pytest.approx(1.0) and float(table[0]["mig"]) == pytest.approx(-1.0)
    only_mig = [{"metric.mig": r["metric.mig"]} for r in rows]
    assert plot_metric_rank_correlation(only_mig, tmp_path / "x").startswith(
        "skipped metric_rank_correlation.png (Locatello et al. 2019, Fig. 2): needs two metric.* columns")


def test_study_violins_are_written_or_explained(tmp_path):
    rows = study_rows()
    line = plot_study_violins(rows, tmp_path / "study_violins.png")
    assert line == "wrote study_violins.png: 3 metric(s) over 4 method × strength cell(s), n = 3 per cell"
    assert (tmp_path / "study_violins.png").stat().st_size > 1000
    constant = [dict(r, strength=1.0) for r in rows[:4]]  # one method, no strength varies: one cell
    assert plot_study_violins(constant, tmp_path / "b.png") == (
        "wrote b.png: 3 metric(s) over 1 method cell(s), n = 4 per cell")
    no_metrics = [{"method": r["method"], "seed": r["seed"]} for r in rows]
    assert plot_study_violins(no_metrics, tmp_path / "c.png").startswith(
        "skipped c.png (Locatello et al. 2019, Fig. 3): no column for a numeric metric.*")
    assert not (tmp_path / "c.png").exists()


def test_seed_groups_pair_the_trials_that_differ_only_in_the_seed():
    rows = [{"trial": f"t{i}", "beta": beta, "latent_dim": 4, "seed": seed, "state": state}
            for i, (beta, seed, state) in enumerate([(1.0, 0, "finished"), (1.0, 1, "finished"),
                                                     (6.0, 0, "finished"), (6.0, 1, "failed"),
                                                     (1.0, 2, "finished")])]
    groups, alone = seed_groups(rows, ["beta", "latent_dim", "seed"])
    assert [(values, [r["trial"] for r in members]) for values, members in groups] == [
        ({"beta": 1.0, "latent_dim": 4}, ["t0", "t1", "t4"])]
    assert [r["trial"] for r in alone] == ["t2"]  # its other seed failed


def test_report_udr_on_a_tiny_sweep(tiny_config, tmp_path, capsys):
    from pyrodisent.cli import main

    spec = parse_sweep({"base": tiny_config, "grid": [{"key": "regularizers.0.beta", "name": "beta", "values": [1.0, 6.0]}],
                        "seeds": [0, 1]})
    run_sweep(spec, tmp_path, use_ray=False, log=None)
    assert main(["report", str(tmp_path), "--udr"]) == 0
    out = capsys.readouterr().out
    assert "wrote udr.csv (Duan et al. 2020): UDR_S (udr) and UDR_L (udr_lasso) of 4 trials in 2 group(s)" in out
    assert "  beta=1.0: 2 seeds, udr " in out
    with open(tmp_path / "report" / "udr.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["trial", "beta", "seed", "udr", "udr_lasso", "n_models", "informative_latents"]
    assert [(float(r["beta"]), int(r["seed"]), int(r["n_models"])) for r in table] == [
        (1.0, 0, 2), (1.0, 1, 2), (6.0, 0, 2), (6.0, 1, 2)]
    for first, second in (table[:2], table[2:]):  # two seeds: UDR_S of the pair, the same for both
        assert first["udr"] == second["udr"]
        assert 0.0 <= float(first["udr"]) <= 1.0 or first["udr"] == "nan"
    with open(tmp_path / "results.csv", newline="") as f:
        results = list(csv.DictReader(f))
    assert [r["metric.udr"] for r in results] == [r["udr"] for r in table]

    report = write_report(tmp_path)  # without --udr no model is loaded; the earlier udr.csv stays
    assert "kept udr.csv of an earlier `pyrodisent report --udr` (pass --udr to recompute it)" in report["lines"]
    assert (tmp_path / "report" / "udr.csv").is_file()
