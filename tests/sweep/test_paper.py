"""The paper's numbers beside ours (`paper` in a sweep file, `pyrodisent report`)."""

import pytest

from pyrodisent.sweep.paper import check_paper, comparison_table, summarize
from pyrodisent.sweep.spec import SweepError, parse_sweep

PAPER = {
    "source": "Table 4",
    "by": "method",
    "columns": {"PC": "metric.partial_correlation", "R2": "metric.aligned_r2"},
    "rows": {"VAE": {"PC": [1.01, 0.02], "R2": [0.22, 0.04]}, "PDisVAE": {"PC": [0.68, 0.04]}},
    "reference": {"PC of the true latents": "0.332 ± 0.006"},
    "claims": ["PDisVAE has the highest R²"],
}


def test_our_cells_are_mean_sd_and_count_of_finished_trials():
    rows = [
        {"state": "finished", "method": "VAE", "metric.partial_correlation": 1.0, "metric.aligned_r2": 0.2},
        {"state": "finished", "method": "VAE", "metric.partial_correlation": 2.0, "metric.aligned_r2": 0.4},
        {"state": "failed", "method": "VAE", "metric.partial_correlation": 99.0},
        {"state": "finished", "method": "PDisVAE", "metric.partial_correlation": 0.5, "metric.aligned_r2": 0.9},
    ]
    lines = comparison_table(rows, check_paper(PAPER))
    vae = next(line for line in lines if line.startswith("| VAE"))
    # mean 1.5, sd (ddof 1) = 0.7071; the failed trial is left out
    assert "1.50 ± 0.71 (n=2) | 1.01 (0.02)" in vae and "0.30 ± 0.14 (n=2) | 0.22 (0.04)" in vae
    pdis = next(line for line in lines if line.startswith("| PDisVAE"))
    assert "0.50 (n=1) | 0.68 (0.04)" in pdis and pdis.endswith("0.90 (n=1) | – |")
    assert "- PC of the true latents: paper 0.332 ± 0.006" in lines
    assert lines[-1] == "- PDisVAE has the highest R²"
    mean, sd, n = summarize([1.0, 2.0, 3.0])
    assert (mean, sd, n) == (2.0, 1.0, 3)


def test_welch_p_value_matches_the_formula():
    import math

    from scipy.stats import t as student_t

    from pyrodisent.sweep.paper import welch_p

    a, b = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]
    va, vb = 1.0 / 3, (5.0 / 3) / 4  # s² / n with s² = 1 and 5/3
    t = (2.0 - 5.5) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)
    assert welch_p(a, b) == pytest.approx(2 * student_t.sf(abs(t), df), rel=1e-9)
    assert welch_p([1.0], b) is None
    lines = comparison_table(
        [{"state": "finished", "method": m, "metric.aligned_r2": v} for m, v in
         [("VAE", 1.0), ("VAE", 2.0), ("VAE", 3.0), ("PDisVAE", 4.0), ("PDisVAE", 5.0), ("PDisVAE", 6.0), ("PDisVAE", 7.0)]],
        check_paper({"by": "method", "columns": {"R2": "metric.aligned_r2"}, "test_against": "PDisVAE"}),
    )
    assert f"| {welch_p(a, b):.2g} |" in next(line for line in lines if line.startswith("| VAE"))


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"bogus": 1}, "unknown key"),
        ({"columns": {"PC": "metric.pc"}}, "'by'"),
        ({"by": "method", "columns": {"PC": "metric.pc"}, "rows": {"VAE": {"R2": [1, 2]}}}, "no such label"),
        ({"by": "method", "columns": {"PC": "metric.pc"}, "rows": {"VAE": {"PC": [1, 2, 3]}}}, r"\[mean, sd\]"),
        ({"claims": "one string"}, "list of strings"),
    ],
)
def test_a_malformed_paper_section_names_the_problem(bad, match):
    with pytest.raises(ValueError, match=match):
        check_paper(bad)
    with pytest.raises(SweepError, match="sweep key 'paper'"):
        parse_sweep({"name": "s", "base": {"model": {"name": "vae"}, "data": {"name": "groupwise"}}, "paper": bad})


def test_rows_keyed_by_several_columns_join_their_values():
    rows = [{"state": "finished", "method": m, "rho": r, "metric.mig": v} for m, r, v in
            [("VAE", 0.0, 0.4), ("VAE", 0.0, 0.6), ("VAE", 0.9, 0.1), ("FactorVAE", 0.9, 0.2)]]
    paper = check_paper({"by": ["method", "rho"], "columns": {"MIG": "metric.mig"},
                         "rows": {"VAE / 0.0": {"MIG": "higher"}, "VAE / 0.9": {"MIG": "lower"}}})
    lines = comparison_table(rows, paper)
    assert lines[2].startswith("| method / rho | MIG (ours) | MIG (paper) |")
    assert "| VAE / 0.0 | 0.50 ± 0.14 (n=2) | higher |" in lines
    assert "| VAE / 0.9 | 0.10 (n=1) | lower |" in lines
    assert "| FactorVAE / 0.9 | 0.20 (n=1) | – |" in lines  # ours only, after the paper's rows
    with pytest.raises(ValueError, match="list of columns"):
        check_paper({"by": [], "columns": {"MIG": "metric.mig"}})
