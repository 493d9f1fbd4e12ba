"""Time and peak memory of the aggregate-posterior estimators: naive [M, M, D] vs memory-efficient.

For every (M, D) and workload it runs forward + backward of

- ``tc``: log q̂(z), log q̂(z_d) → TC (what β-TCVAE needs; the per-dim marginals are chunked
  over dims and recomputed in backward, the joint is summed from the same exact chunks);
- ``pc``: log q̂(z), log q̂(z_g) for groups of 4 dims → PC (no per-dim marginals: the joint
  and group terms are float64 matrix products)

once with :func:`log_aggregate_posterior_naive` (the full [M, M, D] tensor) and once with
:func:`log_aggregate_posterior`, and prints median time, peak memory and the largest
difference of the two values. Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA
and the growth of the peak resident set size of a fresh worker process on CPU.

    python benchmarks/estimators.py                                  # CPU sizes
    python benchmarks/estimators.py --device cuda --sizes 2048x1024 1024x256 4096x64
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from pyrodisent.estimators import log_aggregate_posterior, log_aggregate_posterior_naive


def make_batch(M, D, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(M, D, generator=g)
    scale = 0.05 + torch.rand(M, D, generator=g)
    z = loc + scale * torch.randn(M, D, generator=g)
    return [t.to(device).requires_grad_() for t in (z, loc, scale)]


def step(path, workload, z, loc, scale, N):
    fn = log_aggregate_posterior_naive if path == "naive" else log_aggregate_posterior
    if workload == "tc":
        est = fn(z, loc, scale, N, "mss", dims=True)
        value = (est.joint - est.dims.sum(-1)).mean()
    else:
        groups = [4] * (z.shape[1] // 4)
        est = fn(z, loc, scale, N, "is", groups=groups, dims=False)
        value = (est.joint - est.groups.sum(-1)).mean()
    value.backward()
    return value.detach()


def measure(path, workload, M, D, device, repeats, N=100000):
    """One (path, workload, M, D): median seconds, peak bytes, value."""
    z, loc, scale = make_batch(M, D, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    # CPU: the peak RSS never goes down, so take the baseline before the first (warm-up) call
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    step(path, workload, z, loc, scale, N)  # warm-up
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    times, value = [], None
    for _ in range(repeats):
        for t in (z, loc, scale):
            t.grad = None
        sync()
        start = time.perf_counter()
        value = step(path, workload, z, loc, scale, N)
        sync()
        times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    times.sort()
    return {"seconds": times[len(times) // 2], "peak_bytes": max(0, peak), "value": float(value)}


def run_isolated(path, workload, M, D, device, repeats):
    """CPU: a fresh process per measurement, so the peak RSS belongs to this measurement."""
    if device.type == "cuda":
        return measure(path, workload, M, D, device, repeats)
    cmd = [sys.executable, __file__, "--worker", path, workload, str(M), str(D), str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--sizes", nargs="+", default=["256x64", "512x256", "1024x128", "1024x512"], help="MxD")
    p.add_argument("--workloads", nargs="+", default=["tc", "pc"], choices=["tc", "pc"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-naive-gb", type=float, default=8.0, help="skip the naive layout above this estimate")
    p.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        path, workload, M, D, repeats = args.worker
        torch.set_num_threads(max(1, torch.get_num_threads()))
        print(json.dumps(measure(path, workload, int(M), int(D), torch.device("cpu"), int(repeats))))
        return 0
    device = torch.device(args.device)
    print(f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, "
          f"threads: {torch.get_num_threads()}, torch {torch.__version__}")
    print(f"{'workload':8s} {'M':>5s} {'D':>5s} | {'naive s':>9s} {'naive MB':>9s} | {'eff. s':>9s} {'eff. MB':>9s} | {'|Δ value|':>9s}")
    for size in args.sizes:
        M, D = (int(v) for v in size.lower().split("x"))
        for workload in args.workloads:
            naive_gb = 6 * M * M * D * 4 / 1e9  # a handful of [M, M, D] float32 temporaries
            eff = run_isolated("efficient", workload, M, D, device, args.repeats)
            if naive_gb > args.max_naive_gb:
                print(f"{workload:8s} {M:5d} {D:5d} | {'skipped':>9s} {f'~{naive_gb * 1e3:.0f}':>9s} | "
                      f"{eff['seconds']:9.4f} {eff['peak_bytes'] / 1e6:9.1f} | {'-':>9s}")
                continue
            naive = run_isolated("naive", workload, M, D, device, args.repeats)
            print(f"{workload:8s} {M:5d} {D:5d} | {naive['seconds']:9.4f} {naive['peak_bytes'] / 1e6:9.1f} | "
                  f"{eff['seconds']:9.4f} {eff['peak_bytes'] / 1e6:9.1f} | {abs(naive['value'] - eff['value']):9.2e}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
