"""``pyrodisent report SWEEP_DIR``: the results table and the papers' plots.

``results.csv`` columns (one row per trial): ``trial``, ``index``, one column per axis
(its ``name``), ``state``, ``attempts``, ``error``, ``steps``, ``wall_time_s`` (training),
``trial_time_s`` (training + evaluation), ``loss.<term>`` (the run's final logged loss
terms: ``loss.elbo``, ``loss.kl``, ``loss.tc/tc`` ...), ``metric.<name>``, ``tc_mean`` /
``tc_sample`` (``evaluate.gaussian_tc``), ``method`` (model + regularizer names) and
``config.<key>`` (the resolved run config, regularizers keyed by name).

Plots, each drawn only when the table has its columns (otherwise the report says which
are missing), from finished trials:

* ``best_elbo_grouping.png`` — β-STCVAE (Chen et al. 2022), Fig. 5: for each capacity (``capacity``
  or ``config.model.hidden_width``) and strength, the grouping coefficient i/m of the (latent_dim,
  grouping factor) pair with the best mean ELBO over seeds, where m is the largest proper divisor of
  the latent dim n (§4.4.1); the dashed line is β-TCVAE (i = 1), drawn at the mean of 1/m over the
  latent dims.
* ``violin_<metric>.png`` — Chen et al. 2022, Fig. 7; Yang et al. 2020 (the mutual-information
  paper), Fig. 1: each metric's distribution per model (a ``model`` axis, else ``method``), split
  by ``rho`` when it varies (the σ = 0 vs 0.9 of Yang et al. 2020).
* ``study_violins.png`` — Locatello et al. 2019, Fig. 3: one panel per metric, a violin per
  ``method`` and regularization strength (when one varies) over its seeds, n on each violin.
* ``metric_rank_correlation.png`` and ``.csv`` — Locatello et al. 2019, Fig. 2: the Spearman
  rank correlation between the metric columns over the finished trials (NaN for a metric
  constant over them), the number of trials in the title.
* ``udr.csv`` — only with ``udr=True`` (``pyrodisent report --udr``), which loads every model:
  UDR (Duan et al. 2020) of the trials that differ only in the seed
  (:mod:`pyrodisent.sweep.udr`); it also adds ``metric.udr`` and ``metric.udr_lasso`` to
  ``results.csv``, so the violins and the rank correlation include them.
* ``tc_vs_grouping_factor.png`` — Chen et al. 2022, Fig. 3: final TC against the grouping factor,
  one curve per latent dim, mean and 5–95 % band over seeds; the last training estimate, and
  with ``evaluate.dataset_tc`` a row each for the TC and the between-group TC of the mixture
  of all evaluated points.
* ``paper_comparison.md`` — when the sweep file has a ``paper`` section
  (:mod:`pyrodisent.sweep.paper`): our mean ± sd (n) beside the paper's numbers, and its claims;
  ``paper_boxplots.png`` — the same columns as box plots per row (the paper's Fig. 3(a) layout).
* ``tc_trajectories.png`` and ``.csv`` — Chen et al. 2022, Fig. 3 as drawn there: the training
  TC (the ``loss/<regularizer>/tc`` TensorBoard scalar of each trial) against the iteration,
  one curve per (latent dim, grouping factor), mean and 5–95 % band over seeds, latent dims n
  and 2n in one panel; a second row for the between-group ``tc_joint`` of a grouped TC.
* ``tc_mean_vs_tc_sample.png`` — RTC-VAE (Cheng et al. 2020), Fig. 3: TC_mean and TC_sample
  against the regularization strength, one panel per model.
* ``per_layer.png`` — DeVAE (an anonymous ICLR submission), Table 2: each score against the
  latent layer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pyrodisent.atomic_file import write_text_atomic
from pyrodisent.metrics.udr import spearman_correlation
from pyrodisent.sweep.paper import cell_number, comparison_table, plot_paper_boxplots
from pyrodisent.sweep.state import SweepDir, rows_to_csv
from pyrodisent.sweep.udr import UDR_NAME, sweep_udr

STRENGTH_COLUMNS = ("strength", "beta", "gamma", "config.regularizers.discriminator.gamma",
                    "config.regularizers.tc.beta", "config.regularizers.grouped_tc.beta",
                    "config.regularizers.beta_vae.beta")
CAPACITY_COLUMNS = ("capacity", "hidden_width", "config.model.hidden_width")
LATENT_COLUMNS = ("latent_dim", "config.model.latent_dim")
GROUPING_COLUMNS = ("grouping_factor", "config.regularizers.grouped_tc.grouping_factor")
TC_COLUMNS = ("loss.grouped_tc/tc", "loss.grouped_tc/tc_joint", "loss.tc/tc")
MODEL_COLUMNS = ("model", "method")
RHO_COLUMNS = ("rho", "config.model.rho")


def read_sweep_file(path: Path) -> dict | None:
    """The sweep file as run (``sweep.yaml`` of the sweep directory), or None."""
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text())


def _column(rows: list[dict], candidates, numeric: bool = True, varying: bool = False) -> str | None:
    """The first candidate column present in every row (numeric if asked; varying if asked)."""
    for name in candidates:
        values = [r.get(name) for r in rows]
        if not rows or any(v is None or v == "" for v in values):
            continue
        if numeric and any(cell_number(v) is None for v in values):
            continue
        if varying and len({str(v) for v in values}) < 2:
            continue
        return name
    return None


def _tc_column(rows: list[dict]) -> str | None:
    found = _column(rows, TC_COLUMNS)
    if found:
        return found
    pattern = re.compile(r"^loss\.[^/]+/tc(_joint)?$")
    names = sorted({k for r in rows for k in r if pattern.match(k)})
    return _column(rows, names)


def _plt():
    # matplotlib: only when a report draws plots
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def largest_proper_divisor(n: int) -> int:
    """m of Chen et al. 2022, §4.4.1: the largest factor of n other than n (1 for n = 1)."""
    return max([d for d in range(1, n) if n % d == 0] or [1])


# ------------------------------------------------------------------- plots
def best_grouping_coefficients(rows: list[dict]) -> tuple[dict[tuple, float], dict[str, str | None], float]:
    """{(capacity, strength): grouping coefficient i/m of the best mean ELBO} (Chen et al. 2022,
    §4.4.1).

    The ELBO of a (capacity, strength, latent_dim, grouping factor) cell is the mean over
    its trials (seeds); m is the largest grouping factor of that latent dim n, its largest
    divisor other than n (§4.4.1: n = 12 gives [1/6, 2/6, 3/6, 4/6, 6/6]). Also returns the
    columns used and the β-TCVAE reference (the mean of 1/m over latent dims).
    """
    cols = {
        "capacity": _column(rows, CAPACITY_COLUMNS),
        "latent_dim": _column(rows, LATENT_COLUMNS),
        "grouping_factor": _column(rows, GROUPING_COLUMNS),
        "loss.elbo": _column(rows, ("loss.elbo",)),
    }
    missing = [n for n, c in cols.items() if c is None]
    if missing:
        raise KeyError(", ".join(missing))
    cap, lat, grp, elbo = cols["capacity"], cols["latent_dim"], cols["grouping_factor"], cols["loss.elbo"]
    strength = cols["strength"] = _column(rows, STRENGTH_COLUMNS, varying=True)
    m_of = {n: largest_proper_divisor(n) for n in {int(cell_number(r[lat])) for r in rows}}
    cells: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        s = cell_number(r[strength]) if strength else None
        cells[(cell_number(r[cap]), s, int(cell_number(r[lat])), int(cell_number(r[grp])))].append(cell_number(r[elbo]))
    best: dict[tuple, tuple[float, float]] = {}
    for (c, s, n, i), values in sorted(cells.items(), key=lambda kv: str(kv[0])):
        mean = float(np.mean(values))
        if (c, s) not in best or mean > best[(c, s)][0]:
            best[(c, s)] = (mean, i / m_of[n])
    reference = float(np.mean([1 / m for m in m_of.values()]))
    return {k: v[1] for k, v in best.items()}, cols, reference


def plot_best_elbo_grouping(rows: list[dict], path: Path) -> str:
    try:
        best, cols, reference = best_grouping_coefficients(rows)
    except KeyError as exc:
        return f"skipped best_elbo_grouping.png (Chen et al. 2022, Fig. 5): no column for {exc.args[0]}"
    cap, strength = cols["capacity"], cols["strength"]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for s in sorted({k[1] for k in best}, key=lambda v: (v is None, v)):
        xs = sorted(c for (c, s2) in best if s2 == s)
        ys = [best[(c, s)] for c in xs]
        ax.plot(xs, ys, "o-", label=f"{strength} = {s:g}" if s is not None else "best ELBO")
    ax.axhline(reference, color="red", linestyle="--", label=f"β-TCVAE (i = 1), mean 1/m = {reference:.3f}")
    ax.set_xlabel(f"parameter capacity ({cap})")
    ax.set_ylabel("grouping coefficient i/m of the best ELBO")
    ax.set_title("Best-ELBO grouping coefficient per capacity (β-STCVAE, Chen et al. 2022, Fig. 5)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"wrote {path.name}: best-ELBO grouping coefficient for {len({k[0] for k in best})} capacities"


def _metric_columns(rows: list[dict]) -> list[str]:
    """The numeric ``metric.<score>`` columns of every row; per-factor and per-layer details
    (``metric.mig/factor_0``) stay in the table."""
    names = sorted({k for r in rows for k in r if k.startswith("metric.") and "/" not in k})
    return [m for m in names if _column(rows, (m,))]


def _draw_violins(ax, data: list[list[float]], positions: list[float], width: float, color: str,
                  counts: bool = False):
    """One colour of violins (median marked) at ``positions``; with ``counts`` the number of
    values written above each. Returns a legend handle for the colour."""
    parts = ax.violinplot(data, positions=positions, widths=width * 0.9, showmedians=True)
    for body in parts["bodies"]:
        body.set_facecolor(color)
        body.set_alpha(0.5)
    for key in ("cbars", "cmins", "cmaxes", "cmedians"):
        if key in parts:
            parts[key].set_color(color)
    if counts:
        for values, x in zip(data, positions):
            ax.annotate(f"n={len(values)}", (x, max(values)), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=7)
    return parts["bodies"][0]


def plot_metric_violins(rows: list[dict], out: Path) -> list[str]:
    metrics = _metric_columns(rows)
    if not metrics:
        return ["skipped violin_<metric>.png (Chen et al. 2022, Fig. 7; Yang et al. 2020, Fig. 1): no numeric metric.* column "
                "(add evaluate.metrics to the sweep file)"]
    model = _column(rows, MODEL_COLUMNS, numeric=False)
    hue = _column(rows, RHO_COLUMNS, varying=True)
    plt = _plt()
    lines = []
    for metric in metrics:
        groups = list(dict.fromkeys(str(r[model]) for r in rows))
        hues = sorted({cell_number(r[hue]) for r in rows}) if hue else [None]
        fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(groups) * len(hues)), 4))
        width = 0.8 / len(hues)
        handles = []
        for j, h in enumerate(hues):
            data, positions = [], []
            for g_index, g in enumerate(groups):
                values = [cell_number(r[metric]) for r in rows
                          if str(r[model]) == g and (h is None or cell_number(r[hue]) == h)]
                values = [v for v in values if v is not None]
                if values:
                    data.append(values)
                    positions.append(g_index + (j - (len(hues) - 1) / 2) * width)
            if data:
                handles.append((_draw_violins(ax, data, positions, width, f"C{j}"),
                                f"{hue} = {h:g}" if h is not None else None))
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, rotation=20, fontsize=8)
        ax.set_ylabel(metric.removeprefix("metric."))
        ax.set_title(f"{metric.removeprefix('metric.')} per model (Chen et al. 2022, Fig. 7; Yang et al. 2020, Fig. 1)", fontsize=9)
        if hue:
            ax.legend([h for h, _ in handles], [t for _, t in handles], fontsize=7)
        fig.tight_layout()
        name = "violin_" + re.sub(r"[^A-Za-z0-9_.-]", "_", metric.removeprefix("metric.")) + ".png"
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
        lines.append(f"wrote {name}: {metric} over {len(groups)} model(s)" + (f", split by {hue}" if hue else ""))
    return lines


def plot_study_violins(rows: list[dict], path: Path) -> str:
    """Locatello et al. 2019, Fig. 3: each metric's spread over seeds per method and
    regularization strength (when one varies), one panel per metric, n on each violin."""
    metrics = _metric_columns(rows)
    method = _column(rows, ("method",), numeric=False)
    missing = ([] if metrics else ["a numeric metric.* (add evaluate.metrics to the sweep file)"]) + (
        [] if method else ["method"])
    if missing:
        return f"skipped {path.name} (Locatello et al. 2019, Fig. 3): no column for {', '.join(missing)}"
    strength = _column(rows, STRENGTH_COLUMNS, varying=True)
    methods = list(dict.fromkeys(str(r[method]) for r in rows))

    def cell(r):
        return str(r[method]), (cell_number(r[strength]) if strength else None)

    cells = sorted(set(map(cell, rows)), key=lambda c: (methods.index(c[0]), c[1] is None, c[1]))
    plt = _plt()
    ncols = min(3, len(metrics))
    nrows = -(-len(metrics) // ncols)
    width = max(4.0, 0.9 * len(cells))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 3.8 * nrows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        handles = {}
        for m in methods:
            data, positions = [], []
            for x, c in enumerate(cells):
                if c[0] == m:
                    data.append([cell_number(r[metric]) for r in rows if cell(r) == c])
                    positions.append(x)
            handles[m] = _draw_violins(ax, data, positions, 0.8, f"C{methods.index(m)}", counts=True)
        ax.set_xticks(range(len(cells)))
        ax.set_xticklabels([m if s is None else f"{m}\n{strength} = {s:g}" for m, s in cells], rotation=30,
                           fontsize=7, ha="right")
        ax.set_title(metric.removeprefix("metric."), fontsize=9)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    axes[0][0].legend(list(handles.values()), list(handles), fontsize=7)
    fig.suptitle("metrics over seeds per method" + (f" and {strength}" if strength else "")
                 + " (Locatello et al. 2019, Fig. 3)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    counts = sorted({sum(cell(r) == c for r in rows) for c in cells})
    seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return (f"wrote {path.name}: {len(metrics)} metric(s) over {len(cells)} method"
            + (f" × {strength}" if strength else "") + f" cell(s), n = {seeds} per cell")


def metric_rank_correlation(rows: list[dict]) -> tuple[list[str], np.ndarray]:
    """(metric columns, their Spearman rank-correlation matrix over ``rows``), Locatello et al.
    2019, Fig. 2. A metric constant over the rows correlates with nothing: NaN."""
    metrics = _metric_columns(rows)
    table = np.array([[cell_number(r[m]) for m in metrics] for r in rows], dtype=float)
    table = table.reshape(len(rows), len(metrics))
    return metrics, spearman_correlation(table, table)


def plot_metric_rank_correlation(rows: list[dict], out: Path) -> str:
    """``metric_rank_correlation.png`` (annotated matrix, n trials in the title) and ``.csv``."""
    metrics = _metric_columns(rows)
    if len(metrics) < 2 or len(rows) < 3:
        have = f"{len(metrics)} numeric metric.* column(s) and {len(rows)} finished trial(s)"
        return (f"skipped metric_rank_correlation.png (Locatello et al. 2019, Fig. 2): needs two metric.* columns "
                f"and three finished trials, has {have}")
    names, matrix = metric_rank_correlation(rows)
    labels = [m.removeprefix("metric.") for m in names]
    csv_rows = [{"metric": label, **{other: _csv_number(v) for other, v in zip(labels, line)}}
                for label, line in zip(labels, matrix)]
    write_text_atomic(out / "metric_rank_correlation.csv", rows_to_csv(csv_rows))
    plt = _plt()
    size = 1.0 + 0.7 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
    for i in range(len(labels)):
        for j in range(len(labels)):
            value = matrix[i, j]
            ax.text(j, i, "n/a" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(value) > 0.6 else "black")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=7)
    fig.colorbar(image, ax=ax, label="Spearman ρ")
    ax.set_title(f"rank correlation of the metrics over {len(rows)} trials\n(Locatello et al. 2019, Fig. 2)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "metric_rank_correlation.png", dpi=120)
    plt.close(fig)
    return (f"wrote metric_rank_correlation.png and .csv: Spearman ρ between {len(names)} metrics over "
            f"{len(rows)} trials")


def _csv_number(value: float) -> float | str:
    return "" if np.isnan(value) else float(value)


def _band(values: list[float]) -> tuple[float, float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(np.percentile(a, 5)), float(np.percentile(a, 95))


DATASET_TC_COLUMNS = ("eval.dataset_tc", "eval.dataset_tc_joint")  # evaluate.dataset_tc


def plot_tc_vs_grouping(rows: list[dict], path: Path) -> str:
    grp = _column(rows, GROUPING_COLUMNS)
    lat = _column(rows, LATENT_COLUMNS)
    tc = _tc_column(rows)
    missing = [n for n, c in (("grouping_factor", grp), ("latent_dim", lat), ("a loss.<regularizer>/tc term", tc)) if c is None]
    if missing:
        return f"skipped tc_vs_grouping_factor.png (Chen et al. 2022, Fig. 3): no column for {', '.join(missing)}"
    # one row per TC measure: the last training estimate, then (evaluate.dataset_tc) the TC and
    # between-group TC of the mixture of all evaluated points
    measures = [tc, *(c for c in DATASET_TC_COLUMNS if any(cell_number(r.get(c)) is not None for r in rows))]
    strength = _column(rows, STRENGTH_COLUMNS, varying=True)  # Fig. 3 fixes β = 10: one panel per β
    plt = _plt()
    keys = sorted({cell_number(r[strength]) if strength else None for r in rows}, key=lambda v: (v is None, v))
    fig, axes = plt.subplots(len(measures), len(keys), figsize=(5.5 * len(keys), 3.6 * len(measures)),
                             squeeze=False, sharex=True)
    for row_axes, measure in zip(axes, measures):
        panels: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
        for r in rows:
            value = cell_number(r.get(measure))
            if value is None:  # empty, text or nan
                continue
            s = cell_number(r[strength]) if strength else None
            panels[s][int(cell_number(r[lat]))][int(cell_number(r[grp]))].append(value)
        for ax, s in zip(row_axes, keys):
            curves = panels[s]
            for n in sorted(curves):
                xs = sorted(curves[n])
                stats = [_band(curves[n][i]) for i in xs]
                ax.plot(xs, [st[0] for st in stats], "o-", label=f"latent dim {n}")
                ax.fill_between(xs, [st[1] for st in stats], [st[2] for st in stats], alpha=0.2)
            if s is not None:
                ax.set_title(f"{strength} = {s:g}", fontsize=9)
            ax.legend(fontsize=7)
        row_axes[0].set_ylabel(f"final {measure.removeprefix('loss.').removeprefix('eval.')} (nats)", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("grouping factor i")
    fig.suptitle("TC vs grouping factor, mean and 5-95 % over runs\n(β-STCVAE, Chen et al. 2022, Fig. 3)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    latents = {int(cell_number(r[lat])) for r in rows}
    return f"wrote {path.name}: {', '.join(measures)} against {grp} for {len(latents)} latent dim(s)" + (
        f", one panel per {strength}" if strength else "")


def latent_dim_panels(dims) -> list[tuple[int, ...]]:
    """Chen et al. 2022, Fig. 3 draws latent dim n beside 2n (6 and 12, 8 and 16, 10 and 20):
    the dims paired that way, smallest first, the others alone."""
    left, panels = sorted(set(dims)), []
    while left:
        n = left.pop(0)
        if 2 * n in left:
            left.remove(2 * n)
            panels.append((n, 2 * n))
        else:
            panels.append((n,))
    return panels


def read_scalar_curve(tb_dir: Path, tag: str) -> dict[int, float]:
    """{step: value} of one TensorBoard scalar of a run (empty when the run logged none)."""
    # tensorboard: only when a report reads training curves
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not tb_dir.is_dir():
        return {}
    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    acc.Reload()
    if tag not in acc.Tags().get("scalars", []):
        return {}
    return {int(e.step): float(e.value) for e in acc.Scalars(tag)}


def tc_trajectories(sweep: SweepDir, rows: list[dict]) -> tuple[list[str], list[dict]]:
    """(terms, records): the training curves of the TC terms of each (latent dim, grouping
    factor) — mean, 5 % and 95 % over the runs at every logged step, and the count n — read
    from each trial's TensorBoard log. The terms: the regularizer's total TC
    (``<regularizer>/tc``) and, for a grouped TC, the between-group ``<regularizer>/tc_joint``
    that β-STCVAE penalises (Chen et al. 2022, eq. 9)."""
    grp, lat, tc = _column(rows, GROUPING_COLUMNS), _column(rows, LATENT_COLUMNS), _tc_column(rows)
    if grp is None or lat is None or tc is None:
        return [], []
    total = tc.removeprefix("loss.").removesuffix("_joint")
    terms = [total, total + "_joint"]
    curves: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        pair = (int(cell_number(r[lat])), int(cell_number(r[grp])))
        for term in terms:
            for step, value in read_scalar_curve(sweep.trial_dir(r["trial"]) / "tb", "loss/" + term).items():
                curves[(term, *pair)][step].append(value)
    records = []
    for (term, n, i), by_step in sorted(curves.items()):
        for step in sorted(by_step):
            mean, lo, hi = _band(by_step[step])
            records.append({"term": term, "latent_dim": n, "grouping_factor": i, "step": step,
                            "mean": mean, "p5": lo, "p95": hi, "n": len(by_step[step])})
    return [t for t in terms if any(rec["term"] == t for rec in records)], records


def plot_tc_trajectories(sweep: SweepDir, rows: list[dict], path: Path) -> str:
    """Chen et al. 2022, Fig. 3: the training TC against the iteration, one curve per
    (latent dim, grouping factor) with its 5-95 % band over runs, latent dims n and 2n in one
    panel; a second row for the between-group TC_joint when the runs logged it. The curves
    also go to ``tc_trajectories.csv`` beside the PNG."""
    terms, records = tc_trajectories(sweep, rows)
    if not records:
        why = ("no TensorBoard TC curve in the trial folders" if _tc_column(rows)
               else "no grouping_factor / latent_dim / loss.<regularizer>/tc columns")
        return f"skipped tc_trajectories.png (Chen et al. 2022, Fig. 3): {why}"
    write_text_atomic(path.with_suffix(".csv"), rows_to_csv(records))
    curves: dict = defaultdict(list)
    for rec in records:
        curves[(rec["term"], rec["latent_dim"], rec["grouping_factor"])].append(rec)
    panels = latent_dim_panels(n for _, n, _ in curves)
    plt = _plt()
    fig, axes = plt.subplots(len(terms), len(panels), figsize=(5 * len(panels), 3.8 * len(terms)),
                             squeeze=False, sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, term in enumerate(terms):
        for ax, dims in zip(axes[row], panels):
            pairs = sorted((n, i) for t, n, i in curves if t == term and n in dims)
            for k, (n, i) in enumerate(pairs):
                recs = curves[(term, n, i)]
                steps = [rec["step"] for rec in recs]
                color = colors[k % len(colors)]
                ax.plot(steps, [rec["mean"] for rec in recs], "-" if n == dims[0] else "--", color=color,
                        label=f"{n}_{i} (n={max(rec['n'] for rec in recs)})")
                ax.fill_between(steps, [rec["p5"] for rec in recs], [rec["p95"] for rec in recs],
                                color=color, alpha=0.15)
            ax.set_title(f"{term}, latent dim " + " and ".join(map(str, dims)), fontsize=9)
            ax.legend(fontsize=6, title="latent dim_grouping factor", title_fontsize=6)
        axes[row][0].set_ylabel("training estimate (nats)")
    for ax in axes[-1]:
        ax.set_xlabel("iteration")
    fig.suptitle("TC during training, mean and 5-95 % over runs\n(β-STCVAE, Chen et al. 2022, Fig. 3)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    pairs = {(n, i) for _, n, i in curves}
    return (f"wrote {path.name} and {path.with_suffix('.csv').name}: {', '.join(terms)} curves of "
            f"{len(pairs)} (latent dim, grouping factor) pair(s)")


def plot_tc_mean_vs_sample(rows: list[dict], path: Path) -> str:
    strength = _column(rows, STRENGTH_COLUMNS)
    have = [c for c in ("tc_mean", "tc_sample") if _column(rows, (c,))]
    missing = ([] if strength else ["strength"]) + [c for c in ("tc_mean", "tc_sample") if c not in have]
    if missing:
        return (f"skipped tc_mean_vs_tc_sample.png (Cheng et al. 2020, Fig. 3): no column for {', '.join(missing)} "
                f"(set evaluate.gaussian_tc: true and name the strength axis 'strength')")
    model = _column(rows, MODEL_COLUMNS, numeric=False)
    groups = list(dict.fromkeys(str(r[model]) for r in rows))
    plt = _plt()
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.8), squeeze=False, sharey=True)
    for ax, g in zip(axes[0], groups):
        sub = [r for r in rows if str(r[model]) == g]
        for column, style in (("tc_mean", "o-"), ("tc_sample", "s--")):
            by: dict[float, list[float]] = defaultdict(list)
            for r in sub:
                by[cell_number(r[strength])].append(cell_number(r[column]))
            xs = sorted(by)
            stats = [_band(by[x]) for x in xs]
            ax.plot(xs, [s[0] for s in stats], style, label=column.replace("tc_", "TC_"))
            ax.fill_between(xs, [s[1] for s in stats], [s[2] for s in stats], alpha=0.2)
        ax.set_title(g, fontsize=9)
        ax.set_xlabel(f"regularization strength ({strength})")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("Gaussian TC (nats)")
    fig.suptitle("TC_mean vs TC_sample per strength (RTC-VAE, Cheng et al. 2020, Fig. 3)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"wrote {path.name}: TC_mean and TC_sample against {strength} for {len(groups)} model(s)"


_LAYER_COLUMN = re.compile(r"^metric\.(?P<score>[^/]+)/layer(?P<layer>\d+)$")


def plot_per_layer(rows: list[dict], path: Path) -> str:
    """DeVAE, Table 2: each score (MIG, reconstruction) against the latent layer, one line
    per model, mean ± sd over seeds (columns ``metric.<score>/layer<i>`` of evaluate.layers)."""
    found = {}
    for key in {k for r in rows for k in r}:
        m = _LAYER_COLUMN.match(key)
        if m and any(cell_number(r.get(key)) is not None for r in rows):  # models may lack a layer
            found.setdefault(m["score"], {})[int(m["layer"])] = key
    if not found:
        return ("skipped per_layer.png (DeVAE, Table 2): no metric.<score>/layer<i> column "
                "(add evaluate.layers to the sweep file of a DeVAE sweep)")
    model = _column(rows, MODEL_COLUMNS, numeric=False)
    groups = list(dict.fromkeys(str(r[model]) for r in rows)) if model else [None]
    scores = sorted(found)
    plt = _plt()
    fig, axes = plt.subplots(1, len(scores), figsize=(4.5 * len(scores), 3.6), squeeze=False)
    for ax, score in zip(axes[0], scores):
        for g_index, g in enumerate(groups):
            xs, means, sds = [], [], []
            for layer, column in sorted(found[score].items()):
                values = [cell_number(r.get(column)) for r in rows if g is None or str(r[model]) == g]
                values = [v for v in values if v is not None]
                if values:
                    xs.append(layer)
                    means.append(float(np.mean(values)))
                    sds.append(float(np.std(values)))
            if xs:
                ax.errorbar(xs, means, yerr=sds, marker="o", capsize=3, color=f"C{g_index}",
                            label=g if g is not None else None)
        ax.set_xlabel("latent layer i")
        ax.set_ylabel("−log p(x|z_i) per image (nats)" if score == "reconstruction" else score)
        ax.set_xticks(sorted({i for c in found.values() for i in c}))
        if model:
            ax.legend(fontsize=7)
    fig.suptitle("scores per latent layer, mean ± sd over seeds (DeVAE, Table 2)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"wrote {path.name}: {', '.join(scores)} per layer for {len(groups)} model(s)"


# ------------------------------------------------------------------ report
def write_report(sweep_dir: str | Path, out_dir: str | Path | None = None, udr: bool = False) -> dict[str, Any]:
    """Rewrite results.csv, draw every plot the columns allow; returns {lines, table, plots}.

    ``udr``: also score the finished trials with UDR (:mod:`pyrodisent.sweep.udr`, which loads
    every model): ``udr.csv``, and ``metric.udr`` / ``metric.udr_lasso`` in the table and plots.
    """
    sweep = SweepDir(sweep_dir)
    rows = sweep.rows()
    out = Path(out_dir) if out_dir else sweep.root / "report"
    out.mkdir(parents=True, exist_ok=True)
    udr_lines = []
    if udr:
        records, udr_lines = sweep_udr(sweep, rows)
        scored = {r["trial"]: r for r in records}
        for row in rows:
            if row["trial"] in scored:
                row["metric.udr"] = scored[row["trial"]]["udr"]
                row["metric.udr_lasso"] = scored[row["trial"]]["udr_lasso"]
        (out / UDR_NAME).unlink(missing_ok=True)
        if records:
            write_text_atomic(out / UDR_NAME, rows_to_csv(records))
    elif (out / UDR_NAME).is_file():
        udr_lines = [f"kept {UDR_NAME} of an earlier `pyrodisent report --udr` (pass --udr to recompute it)"]
    table = sweep.write_results(rows)
    for stale in [*out.glob("violin_*.png"), *(out / n for n in ("best_elbo_grouping.png",
                  "tc_vs_grouping_factor.png", "tc_trajectories.png", "tc_trajectories.csv", "tc_mean_vs_tc_sample.png", "per_layer.png",
                  "paper_boxplots.png", "study_violins.png", "metric_rank_correlation.png",
                  "metric_rank_correlation.csv"))]:
        stale.unlink(missing_ok=True)  # a plot the table no longer supports is not left behind
    finished = [r for r in rows if r["state"] == "finished"]
    states = {s: sum(r["state"] == s for r in rows) for s in ("finished", "failed", "running", "pending")}
    lines = [f"{len(rows)} trials: " + ", ".join(f"{v} {k}" for k, v in states.items() if v), f"table: {table}"]
    for r in rows:
        if r["state"] == "failed":
            lines.append(f"  failed {r['trial']}: {r['error']}")
    lines += udr_lines
    if finished:
        lines.append(plot_best_elbo_grouping(finished, out / "best_elbo_grouping.png"))
        lines += plot_metric_violins(finished, out)
        lines.append(plot_study_violins(finished, out / "study_violins.png"))
        lines.append(plot_metric_rank_correlation(finished, out))
        lines.append(plot_tc_vs_grouping(finished, out / "tc_vs_grouping_factor.png"))
        lines.append(plot_tc_trajectories(sweep, finished, out / "tc_trajectories.png"))
        lines.append(plot_tc_mean_vs_sample(finished, out / "tc_mean_vs_tc_sample.png"))
        lines.append(plot_per_layer(finished, out / "per_layer.png"))
    else:
        lines.append("no finished trials yet: no plots")
    paper = (read_sweep_file(sweep.root / "sweep.yaml") or {}).get("paper")
    if paper:
        table_lines = comparison_table(rows, paper)
        write_text_atomic(out / "paper_comparison.md", "\n".join(table_lines) + "\n")
        if paper.get("columns") and finished:
            lines.append(plot_paper_boxplots(rows, paper, out / "paper_boxplots.png"))
        lines += ["", "beside the paper (paper_comparison.md):", *table_lines]
    write_text_atomic(out / "report.txt", "\n".join(lines) + "\n")
    plots = sorted(p.name for p in out.glob("*.png"))
    return {"lines": lines, "table": table, "plots": plots, "out": out}
