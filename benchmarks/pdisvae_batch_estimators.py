"""PDisVAE App. A.3.3 (Fig. 6, Table 3): MWS, MSS and IS batch approximations of q(z), empirically.

The paper's set-up: a data set of N = 10 points with Gaussian posteriors q(z | n) in 2-D; each
repeat draws a batch of M = 3 of them without replacement, with the anchor n* the batch's first
point and z ~ q(z | n*), and approximates the aggregate posterior q(z) = (1/N) Σ_n q(z | n) from
the batch alone; 1000 repeats. The paper shows the posterior means only as a picture (Fig. 6,
left), so the 10 means here are N(0, I) draws with posterior sd 0.5 (``--scale``), fixed by
``--seed``.

Two things are compared with the closed forms of Table 3 / eq. 13-16:

* the inverse-weight data sets IS₀ and MSS₀ (N·W[i, :] of one row), whose means are N/M and
  whose variances are eq. 14 and 15 — exact, from :func:`pyrodisent.estimators.inverse_weight_dataset`;
* the estimates themselves, as the ratio q̂(z)/q(z) at the sampled z: unbiased means E = 1
  (MSS and IS; MWS is biased low), and their empirical variance over the repeats, IS below
  MSS (eq. 16), with a paired bootstrap interval of the gap (the same batches for all three).

The weights are pyrodisent's own (:func:`pyrodisent.estimators.log_importance_weights`), so this
checks the estimators the regularizers use. Writes ``pdisvae_batch_estimators.csv`` and ``.png``
to ``--out``; a few seconds on a CPU:

    python benchmarks/pdisvae_batch_estimators.py --out docs/results
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
import torch

from pyrodisent.estimators import (
    inverse_weight_dataset,
    inverse_weight_variance,
    log_importance_weights,
)

METHODS = ("mws", "mss", "is")


def log_normal(z: torch.Tensor, loc: torch.Tensor, scale: float) -> torch.Tensor:
    """log N(z; loc, scale² I) for z [D] and loc [n, D] → [n]."""
    d = z.shape[-1]
    return -0.5 * ((z - loc) / scale).square().sum(-1) - d * math.log(scale) - 0.5 * d * math.log(2 * math.pi)


def run(num_points: int, batch_size: int, repeats: int, scale: float, seed: int):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(num_points, 2, generator=g, dtype=torch.float64)
    log_w = {m: log_importance_weights(batch_size, num_points, m, dtype=torch.float64)[0] for m in METHODS}
    ratios = {m: [] for m in METHODS}
    for _ in range(repeats):
        batch = torch.randperm(num_points, generator=g)[:batch_size]  # batch[0] is the anchor n*
        z = means[batch[0]] + scale * torch.randn(2, generator=g, dtype=torch.float64)
        log_q = torch.logsumexp(log_normal(z, means, scale), 0) - math.log(num_points)
        log_cond = log_normal(z, means[batch], scale)
        for m in METHODS:
            ratios[m].append(float(torch.exp(torch.logsumexp(log_cond + log_w[m], 0) - log_q)))
    return means, {m: np.array(v) for m, v in ratios.items()}


def table(num_points: int, batch_size: int, ratios: dict[str, np.ndarray]) -> list[dict]:
    rows = []
    for m in METHODS:
        r = ratios[m]
        row = {
            "method": m.upper(),
            "ratio_mean": r.mean(),
            "ratio_mean_se": r.std(ddof=1) / math.sqrt(len(r)),
            "ratio_var": r.var(ddof=1),
            "paper_bias": "biased" if m == "mws" else "unbiased",
        }
        if m != "mws":
            data = [float(v) for v in inverse_weight_dataset(batch_size, num_points, m)]
            row["inverse_weights"] = " ".join(f"{v:.4g}" for v in data)
            row["inverse_weight_mean"] = float(np.mean(data))
            row["inverse_weight_var"] = float(np.var(data))
            row["paper_inverse_weight_var"] = float(inverse_weight_variance(batch_size, num_points, m))
        rows.append(row)
    return rows


def variance_gap(ratios: dict[str, np.ndarray], seed: int, resamples: int = 2000) -> tuple[float, float, float]:
    """Var[MSS] − Var[IS] of the ratios on the same batches, with a 95 % paired-bootstrap interval."""
    mss, is_ = ratios["mss"], ratios["is"]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(mss), size=(resamples, len(mss)))
    gaps = mss[idx].var(axis=1, ddof=1) - is_[idx].var(axis=1, ddof=1)
    lo, hi = np.quantile(gaps, [0.025, 0.975])
    return float(mss.var(ddof=1) - is_.var(ddof=1)), float(lo), float(hi)


def plot(means: np.ndarray, ratios: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    a.scatter(means[:, 0], means[:, 1], c="k", s=18)
    a.set_title(f"posterior means of the {len(means)} points")
    a.set_xlabel("$z_1$")
    a.set_ylabel("$z_2$")
    data = [ratios[m] for m in METHODS]
    b.violinplot(data, showmeans=True)
    b.axhline(1.0, color="gray", lw=0.8, ls="--")
    b.set_xticks(range(1, len(METHODS) + 1), [f"{m.upper()}\nvar {ratios[m].var(ddof=1):.3f}" for m in METHODS])
    b.set_ylabel(r"$\hat q(z) / q(z)$")
    b.set_title(f"{len(data[0])} repeats, batches of 3")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num-points", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=3)
    p.add_argument("--repeats", type=int, default=1000)
    p.add_argument("--scale", type=float, default=0.5, help="posterior sd of every point")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/pdisvae_batch_estimators")
    args = p.parse_args(argv)
    means, ratios = run(args.num_points, args.batch_size, args.repeats, args.scale, args.seed)
    rows = table(args.num_points, args.batch_size, ratios)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / "pdisvae_batch_estimators.csv", "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(rows)
    plot(means.numpy(), ratios, out / "pdisvae_batch_estimators.png")
    print(f"N = {args.num_points}, M = {args.batch_size}, {args.repeats} repeats, posterior sd {args.scale}")
    print("method  E[q̂/q] (± se)      Var[q̂/q]   Var[N·W] ours  Table 3 / eq. 14-15")
    for r in rows:
        closed = f"{r['inverse_weight_var']:.4f}       {r['paper_inverse_weight_var']:.4f}" if "inverse_weight_var" in r else "-"
        print(f"{r['method']:6s}  {r['ratio_mean']:.3f} (± {r['ratio_mean_se']:.3f})   {r['ratio_var']:.4f}     {closed}")
    gap, lo, hi = variance_gap(ratios, args.seed)
    print(f"Var[MSS] − Var[IS] on the same batches: {gap:.4f} (95 % bootstrap {lo:.4f} to {hi:.4f}); "
          f"eq. 16 for the weights: {float(inverse_weight_variance(args.batch_size, args.num_points, 'mss') - inverse_weight_variance(args.batch_size, args.num_points, 'is')):.4f}")
    print(f"wrote {out / 'pdisvae_batch_estimators.csv'} and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
