"""Time every metric of the default suite with the reference point counts (docs/metrics.md).

The representation is cheap on purpose (a fixed random mixing of the factors plus a fixed
per-observation noise vector stored in the observation), so the times are the metrics'
own cost, not an encoder's. Factor grids mimic Shapes3D ([10, 10, 10, 8, 4, 15], 57 classes)
or dSprites ([3, 6, 40, 32, 32], 113 classes); DCI's cost grows with the number of classes
(one tree per class per boosting stage).

    python benchmarks/metrics.py                      # shapes3d-like grid, default suite
    python benchmarks/metrics.py --grid dsprites --sklearn-dci --metrics dci
    python benchmarks/metrics.py --threads 2 --json out.json

Prints one line per metric (seconds, scores) and the total.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

GRIDS = {"shapes3d": [10, 10, 10, 8, 4, 15], "dsprites": [3, 6, 40, 32, 32], "small": [3, 4, 5, 6]}


def synthetic_dataset(sizes, latent_dim: int = 10, noise: float = 0.3, seed: int = 0):
    from pyrodisent.data import FactorDataset

    rs = np.random.RandomState(seed)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(
        -1, len(sizes)
    )
    scaled = grid / (np.array(sizes) - 1.0)
    extra = rs.randn(len(grid), latent_dim).astype(np.float32)
    obs = np.concatenate([scaled.astype(np.float32), extra], axis=1)
    data = FactorDataset(
        torch.from_numpy(obs), grid, [f"f{k}" for k in range(len(sizes))], sizes, name="bench"
    )
    mixing = np.zeros((len(sizes), latent_dim))
    mixing[np.arange(len(sizes)), np.arange(len(sizes))] = 3.0
    mixing += 0.3 * rs.randn(len(sizes), latent_dim)
    k = len(sizes)

    class Encoder:
        """encode(x) -> (loc, scale): loc a fixed mixing of the factors plus noise, scale 0.1."""

        def encode(self, x):
            x = x.numpy()
            loc = x[:, :k] @ mixing + noise * x[:, k:]
            return torch.from_numpy(loc), torch.full(loc.shape, 0.1, dtype=torch.float64)

    return data, Encoder()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grid", choices=sorted(GRIDS), default="shapes3d")
    parser.add_argument("--metrics", nargs="+", help="metric names (default: the default suite)")
    parser.add_argument("--fast", action="store_true", help="the fast point counts")
    parser.add_argument(
        "--sklearn-dci", action="store_true", help="DCI with sklearn's estimator (slow)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads and DCI n_jobs")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    from pyrodisent.metrics import DEFAULT_METRICS
    from pyrodisent.metrics.evaluate import iter_metrics

    if args.threads:
        torch.set_num_threads(args.threads)
    data, represent = synthetic_dataset(GRIDS[args.grid])
    names = args.metrics or list(DEFAULT_METRICS)
    options = {}
    if "dci" in names:
        options["dci"] = {
            "n_jobs": args.threads,
            "estimator": "sklearn" if args.sklearn_dci else "presorted",
        }
    results = {
        "grid": args.grid,
        "factor_sizes": GRIDS[args.grid],
        "fast": args.fast,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "load_average": os.getloadavg(),
        "dci_estimator": options.get("dci", {}).get("estimator"),
        "metrics": {},
    }
    start, cpu_start = time.perf_counter(), time.process_time()
    cpu = cpu_start
    for name, scores, seconds in iter_metrics(
        represent, data, names, random_state=0, fast=args.fast, options=options
    ):
        cpu_seconds, cpu = time.process_time() - cpu, time.process_time()
        main_scores = {k: round(v, 4) for k, v in scores.items() if "/factor_" not in k}
        results["metrics"][name] = {
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu_seconds, 2),
            "scores": main_scores,
        }
        print(
            f"{name:<14} {seconds:8.2f} s wall {cpu_seconds:8.2f} s CPU  {main_scores}", flush=True
        )
    total = time.perf_counter() - start
    results["total_seconds"] = round(total, 2)
    results["total_cpu_seconds"] = round(time.process_time() - cpu_start, 2)
    results["load_average_after"] = os.getloadavg()
    print(
        f"{'total':<14} {total:8.2f} s wall {results['total_cpu_seconds']:8.2f} s CPU  (load average before/after: {results['load_average']} / "
        f"{results['load_average_after']})"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
