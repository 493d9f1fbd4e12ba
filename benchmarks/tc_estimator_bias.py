"""Minibatch TC estimators against the Gaussian ground truth (reproduces RTC-VAE, Cheng et al.
2020, §5, Fig. 2).

Setting (§5 / App. 1.3): μ ~ N(0, Σ) with diag Σ = I, z | μ ~ N(μ, σ² I), σ = 0.1;
the ground truth is TC(z) from Prop. 1 on Cov(z) = Σ + σ² I. Σ is the equicorrelation
matrix (1 − ρ)I + ρ11ᵀ, so det Σ = (1 − ρ)^{D−1}(1 + (D − 1)ρ) sweeps (0, 1] (Fig. 2's x-axis).
A dataset of N means μ_n is drawn; batches of M of them (without replacement) with
z_i ~ N(μ_i, σ² I) give the estimates of ``mws``, ``mss_chen_code`` (MSS0), ``mss`` (MSS1)
and ``is`` (all constants kept), averaged over repeats.

Two extra columns explain the numbers:
- ``kde_truth``: the exact TC of the aggregate posterior the estimators actually target,
  q(z) = (1/N) Σ_n N(μ_n, σ² I) (Monte Carlo with the exact mixture density). For small σ and
  large D this finite-N mixture is far from the Gaussian N(0, Σ + σ² I): its TC grows like
  (D − 1)·log of the number of points a kernel of width σ covers, which is the "curse of
  dimensionality" of Cheng et al. 2020, App. 1.3.1.
- ``mws_no_const``: MWS with the constants log(NM) dropped, as some public implementations do.

Writes ``tc_estimator_bias.csv``, ``tc_estimator_bias.md`` and ``tc_estimator_bias.png`` to
``--out``. The defaults are a CPU-sized run (a few minutes on 2 cores):

    python benchmarks/tc_estimator_bias.py --out runs/tc_bias
    python benchmarks/tc_estimator_bias.py --dims 2 4 10 20 --batch-size 2048 --dataset-size 50000 --device cuda
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import torch

from pyrodisent.estimators import (
    GaussianFamily,
    aggregate_log_densities,
    equicorrelation_matrix,
    gaussian_total_correlation,
    log_aggregate_posterior,
)

METHODS = {"mws": "MWS", "mss_chen_code": "MSS0", "mss": "MSS1", "is": "IS"}


def batch_tc(z, loc, scale, N, method):
    est = log_aggregate_posterior(z, loc, scale, N, method, dims=True)
    return (est.joint - est.dims.sum(-1)).mean().item()


def mixture_tc(mu, sigma, samples, generator, chunk=2048):
    """Exact-density Monte-Carlo TC of (1/N) Σ_n N(μ_n, σ² I)."""
    N, D = mu.shape
    family = GaussianFamily.diagonal(mu, torch.full_like(mu, sigma))
    log_w = torch.full((1, N), -math.log(N), dtype=mu.dtype, device=mu.device)
    idx = torch.randint(0, N, (samples,), generator=generator, device="cpu").to(mu.device)
    eps = torch.randn(samples, D, generator=generator, dtype=mu.dtype).to(mu.device)
    z = mu[idx] + sigma * eps
    values = []
    for start in range(0, samples, chunk):
        est = aggregate_log_densities(z[start : start + chunk], family, log_w)
        values.append(est.joint - est.dims.sum(-1))
    return torch.cat(values).mean().item()


def run(args) -> list[dict]:
    device = torch.device(args.device)
    rows = []
    for D in args.dims:
        rho_max = args.max_rho
        for level in range(args.levels):
            rho = rho_max * level / max(1, args.levels - 1)
            corr = equicorrelation_matrix(D, rho)
            truth = gaussian_total_correlation(corr + args.sigma**2 * torch.eye(D, dtype=torch.float64)).item()
            g = torch.Generator().manual_seed(args.seed + 1000 * D + level)
            chol = torch.linalg.cholesky(corr)
            mu = (torch.randn(args.dataset_size, D, generator=g, dtype=torch.float64) @ chol.T).to(device)
            mu = mu.to(torch.float32 if args.float32 else torch.float64)
            sums = {m: 0.0 for m in METHODS}
            for _ in range(args.repeats):
                index = torch.randperm(args.dataset_size, generator=g)[: args.batch_size].to(device)
                loc = mu[index]
                scale = torch.full_like(loc, args.sigma)
                z = loc + scale * torch.randn(loc.shape, generator=g, dtype=torch.float64).to(device, loc.dtype)
                for m in METHODS:
                    sums[m] += batch_tc(z, loc, scale, args.dataset_size, m) / args.repeats
            row = {
                "D": D,
                "rho": round(rho, 4),
                "det_corr": float(torch.linalg.det(corr)),
                "truth_prop1": truth,
                "kde_truth": mixture_tc(mu, args.sigma, args.kde_samples, g),
            }
            for m, label in METHODS.items():
                row[label] = sums[m]
            const = (D - 1) * math.log(args.dataset_size * args.batch_size)
            row["MWS_no_const"] = sums["mws"] - const
            rows.append(row)
            print(
                f"D={D:3d} rho={rho:.3f} det={row['det_corr']:.3f} truth={truth:8.3f} kde={row['kde_truth']:8.3f} "
                + " ".join(f"{label}={row[label]:8.3f}" for label in METHODS.values())
                + f" MWS_no_const={row['MWS_no_const']:8.3f}",
                flush=True,
            )
    return rows


def write_outputs(rows, args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0])
    with open(out / "tc_estimator_bias.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "tc_estimator_bias.md", "w") as f:
        f.write(
            f"Cheng et al. 2020, Fig. 2 setting: σ = {args.sigma}, N = {args.dataset_size}, M = {args.batch_size}, "
            f"{args.repeats} batches per point. TC in nats.\n\n"
        )
        f.write("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n")
        f.writelines("| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in columns) + " |\n" for r in rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = sorted({r["D"] for r in rows})
    fig, axes = plt.subplots(1, len(dims), figsize=(4.2 * len(dims), 3.6), squeeze=False)
    styles = {"truth_prop1": ("gt (Prop. 1)", "k-"), "kde_truth": ("TC of the N-point mixture", "k:")}
    styles.update({label: (label, "o-") for label in METHODS.values()})
    styles["MWS_no_const"] = ("MWS without log(NM)", "x--")
    for ax, D in zip(axes[0], dims):
        sub = [r for r in rows if r["D"] == D]
        x = [r["det_corr"] for r in sub]
        for key, (label, style) in styles.items():
            ax.plot(x, [r[key] for r in sub], style, label=label, markersize=3)
        ax.set_title(f"D = {D}")
        ax.set_xlabel("det of corr(μ)")
        ax.set_yscale("symlog", linthresh=1.0)
    axes[0][0].set_ylabel("TC(z) (nats, symlog)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"Minibatch TC estimators vs. ground truth (σ = {args.sigma}, N = {args.dataset_size}, M = {args.batch_size})")
    fig.tight_layout()
    fig.savefig(out / "tc_estimator_bias.png", dpi=120)
    print(f"wrote {out / 'tc_estimator_bias.csv'}, .md and .png")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dims", type=int, nargs="+", default=[2, 4, 10, 20])
    p.add_argument("--levels", type=int, default=6, help="correlation levels per dimension")
    p.add_argument("--max-rho", type=float, default=0.9)
    p.add_argument("--sigma", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=500, help="M (Cheng et al. 2020 train with 500)")
    p.add_argument("--dataset-size", type=int, default=10000, help="N, the number of means μ_n")
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--kde-samples", type=int, default=4000)
    p.add_argument("--float32", action="store_true", help="estimate in float32 (default float64)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/tc_estimator_bias")
    args = p.parse_args(argv)
    start = time.time()
    rows = run(args)
    write_outputs(rows, args)
    print(f"done in {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
