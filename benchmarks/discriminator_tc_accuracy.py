"""How well does FactorVAE's discriminator estimate TC as the dimension grows? (DeVAE, an
anonymous ICLR submission, §3.2, Table 1)

x ~ N(0, Σ) in D dims, split into halves x¹ = x[:D/2], x² = x[D/2:]; every variable is
standard normal, dims within a half are independent and Cov(x¹_i, x²_i) = ρ. By Prop. 1 of
RTC-VAE (Cheng et al. 2020), |Σ| = (1 − ρ²)^{D/2}, so

    TC(x) = −½ log |Σ| = −(D/4) · log(1 − ρ²)            (DeVAE, eq. 9)

The `discriminator` plugin's network (6 × 1000, leaky ReLU 0.2, Adam 1e-4, betas (0.5, 0.9))
is trained for 2000 iterations on fresh batches of x against x permuted per dimension — its
own `auxiliary_step`, exactly as inside a FactorVAE run — and its TC estimate
mean[logit_real − logit_fake] is read on a fresh evaluation sample. Error = |est − TC| / TC,
the paper's column. The DeVAE paper does not give the batch size; 64 is Kim & Mnih's.

    python benchmarks/discriminator_tc_accuracy.py                    # the paper's grid, 10 repeats
    python benchmarks/discriminator_tc_accuracy.py --reduced          # CPU: 2 repeats
    python benchmarks/discriminator_tc_accuracy.py --dims 10 --rhos 0.9 --repeats 1 --device cuda
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch
from pyrodisent_plugins.discriminator import DiscriminatorTotalCorrelation

from pyrodisent import PosteriorBatch

# the DeVAE paper, Table 1: (D, ρ) -> (estimated TC, true TC, error)
PAPER_TABLE_1 = {
    (10, 0.3): (0.23, 0.24, 0.03), (10, 0.6): (1.08, 1.12, 0.03), (10, 0.9): (4.14, 4.15, 0.00),
    (100, 0.3): (2.17, 2.36, 0.08), (100, 0.6): (10.27, 11.16, 0.08), (100, 0.9): (23.39, 41.52, 0.44),
    (1000, 0.3): (8.62, 23.58, 0.63), (1000, 0.6): (17.40, 111.57, 0.84), (1000, 0.9): (22.47, 415.18, 0.95),
}


def true_tc(dim: int, rho: float) -> float:
    """−(D/4)·log(1 − ρ²) (DeVAE, eq. 9)."""
    return -dim / 4 * math.log(1 - rho**2)


def paired_gaussian(n: int, dim: int, rho: float, generator: torch.Generator, device) -> torch.Tensor:
    """n draws of x = [a, ρa + √(1−ρ²) b], a, b ~ N(0, I_{D/2})."""
    half = dim // 2
    a = torch.randn(n, half, generator=generator, device=device)
    b = torch.randn(n, half, generator=generator, device=device)
    return torch.cat([a, rho * a + math.sqrt(1 - rho**2) * b], 1)


def as_posterior_batch(x: torch.Tensor) -> PosteriorBatch:
    """The codes as the discriminator sees them inside a VAE step (its loss uses z only)."""
    return PosteriorBatch(z=x, posterior=None, prior=None, dataset_size=x.shape[0])


def _estimate(reg, x_eval: list[torch.Tensor]) -> float:
    with torch.no_grad():
        return torch.stack([reg.total_correlation(x) for x in x_eval]).mean().item()


def estimate_once(dim, rho, seed, args) -> tuple[float, int, list[tuple[int, float]]]:
    """(estimate, iterations run, trace): the discriminator trained on fresh batches for
    ``args.iterations`` steps, or — with ``args.until_converged`` — until its estimate on a
    fixed evaluation sample stops moving: the mean of the estimates of the last half of the
    last ``args.window`` iterations (read every ``args.trace_every``) within ``args.tolerance``
    (relative) of the mean over the first half, at most ``args.max_iterations``. The final estimate is read on a fresh sample."""
    device = torch.device(args.device)
    reg = DiscriminatorTotalCorrelation(
        gamma=1.0, hidden_units=args.hidden_units, layers=args.layers, lr=args.lr,
        independent_batch=args.independent_batch, seed=seed,
    )
    data = torch.Generator(device=device).manual_seed(10_000 + seed)
    eval_batches = max(1, args.eval_size // args.eval_batch)
    fixed = [paired_gaussian(args.eval_batch, dim, rho, data, device) for _ in range(eval_batches)] \
        if args.trace_every else []
    limit = args.max_iterations if args.until_converged else args.iterations
    trace: list[tuple[int, float]] = []
    done = 0
    while done < limit:
        batch_size = 2 * args.batch_size if args.independent_batch else args.batch_size
        reg.auxiliary_step(as_posterior_batch(paired_gaussian(batch_size, dim, rho, data, device)))
        done += 1
        if args.trace_every and done % args.trace_every == 0:
            trace.append((done, _estimate(reg, fixed)))
            if args.until_converged and done >= args.window:
                half = args.window // 2
                recent = [v for it, v in trace if it > done - half]
                before = [v for it, v in trace if done - args.window < it <= done - half]
                if abs(statistics.fmean(recent) - statistics.fmean(before)) <= args.tolerance * abs(statistics.fmean(before)):
                    break
    fresh = [paired_gaussian(args.eval_batch, dim, rho, data, device) for _ in range(eval_batches)]
    return _estimate(reg, fresh), done, trace


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--rhos", type=float, nargs="+", default=[0.3, 0.6, 0.9])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="repeats use seeds first-seed, first-seed + 1, ...")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--until-converged", action="store_true",
                        help="train until the estimate stops moving (--window, --tolerance), at most --max-iterations")
    parser.add_argument("--max-iterations", type=int, default=40_000)
    parser.add_argument("--window", type=int, default=5_000, help="iterations over which the estimate must settle")
    parser.add_argument("--tolerance", type=float, default=0.02, help="relative change allowed over --window")
    parser.add_argument("--trace-every", type=int, default=0,
                        help="read the estimate on a fixed sample every N iterations (needed by --until-converged)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--independent-batch", action="store_true",
                        help="fake codes from a second, independent batch (the paper's form)")
    parser.add_argument("--hidden-units", type=int, default=1000)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--eval-size", type=int, default=10_000)
    parser.add_argument("--eval-batch", type=int, default=2_000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    parser.add_argument("--reduced", action="store_true", help="CPU preset: 2 repeats")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    if args.reduced:
        args.repeats = min(args.repeats, 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    for dim in args.dims:
        if dim < 2 or dim % 2:
            parser.error(f"--dims must be even and >= 2, got {dim}")
    if args.until_converged and (not args.trace_every or args.window % (2 * args.trace_every)):
        parser.error("--until-converged needs --trace-every N with 2N dividing --window")

    rows = []
    length = (f"until the estimate moves < {args.tolerance:.0%} over {args.window} iterations "
              f"(at most {args.max_iterations})" if args.until_converged else f"{args.iterations} iterations")
    print(f"# discriminator TC vs truth: {length}, batch {args.batch_size}, "
          f"{args.layers} x {args.hidden_units}, lr {args.lr}, {args.repeats} repeats, {args.device}")
    print("| D | ρ | estimate (mean ± sd) | true TC | error | paper est. | paper TC | paper error | iterations | s/run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for dim in args.dims:
        for rho in args.rhos:
            start = time.perf_counter()
            runs = [estimate_once(dim, rho, seed, args) for seed in range(args.first_seed, args.first_seed + args.repeats)]
            values = [r[0] for r in runs]
            iterations = [r[1] for r in runs]
            seconds = (time.perf_counter() - start) / args.repeats
            mean = statistics.fmean(values)
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            truth = true_tc(dim, rho)
            error = abs(mean - truth) / truth
            paper = PAPER_TABLE_1.get((dim, round(rho, 2)))
            paper_cells = " | ".join(f"{v:.2f}" for v in paper) if paper else "– | – | –"
            print(f"| {dim} | {rho:.1f} | {mean:.2f} ± {sd:.2f} | {truth:.2f} | {error:.2f} | {paper_cells} | "
                  f"{'/'.join(map(str, iterations))} | {seconds:.0f} |", flush=True)
            rows.append({"dim": dim, "rho": rho, "estimates": values, "mean": mean, "sd": sd, "true": truth,
                         "error": error, "paper": paper, "seconds_per_run": seconds, "iterations": iterations,
                         "traces": [r[2] for r in runs]})
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
