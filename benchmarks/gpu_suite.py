"""Every GPU figure of docs/benchmarks.md in one call, printed as one table.

When a machine with an NVIDIA GPU is lent for a few minutes, this is the one command to run:

    python benchmarks/gpu_suite.py                 # on the GPU machine, about 6-8 minutes
    python benchmarks/gpu_suite.py --device cpu --quick   # the same items, small, to check the script

Items (each is one of the benchmark scripts, run as a subprocess with its own time limit, so a
slow or failing item costs its own limit and no more; its full output goes to ``--log``):

1. step time of the conv β-TCVAE (64×64, D = 10): the engine eager, the engine's compiled
   step (``train.compile: step``) and the hand-written loop eager and compiled, with CUDA
   graphs (``reduce-overhead``) at batch 64 and 256 and with inductor's default mode at 256;
2. the same, CUDA graphs, for the tiny model of PDisVAE's synthetic runs (Pyro's overhead
   dominates there);
3. the data feed: images/s of the device-resident, packed and streaming samplers at batch 256;
4. the aggregate-posterior estimators at M = 2048, D = 1024 (time and peak memory);
5. the metric suite at the reference point counts;
6. trials per hour of a sweep of small models, and a vmapped stack of models.

The table has one row per number: item, setting, value, unit.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _step_items(device: str, quick: bool) -> list[tuple[str, list[str], int]]:
    steps = ["--steps", "5", "--rounds", "2", "--warmup", "2"] if quick else ["--steps", "50", "--rounds", "3"]
    graphs = "default" if device == "cpu" else "reduce-overhead"  # CUDA graphs exist on CUDA only
    plan = [("conv", 64, graphs, 90), ("conv", 256, graphs, 90), ("conv", 256, "default", 75), ("tiny", 128, graphs, 60)]
    if quick:
        plan = [("conv", 64, graphs, 90), ("tiny", 128, graphs, 60)]
    return [
        (f"step {model} b{batch} {mode}",
         ["step_time.py", "--model", model, "--device", device, "--batch-size", str(batch), "--compile-mode", mode, *steps],
         limit)
        for model, batch, mode, limit in plan
    ]


def suite(device: str, quick: bool) -> list[tuple[str, list[str], int]]:
    """(name, script and arguments, time limit in s); the limits add up to 8 minutes."""
    items = _step_items(device, quick)
    items.append(("data feed b256", ["data_throughput.py", "--device", device, "--steps", "20" if quick else "200"], 30))
    sizes = ["256x64"] if quick else ["2048x1024"]
    items.append(("estimators", ["estimators.py", "--device", device, "--sizes", *sizes, "--repeats", "1" if quick else "3"], 45))
    items.append(("metric suite", ["metrics.py", *(["--fast"] if quick else [])], 60))
    items.append(("sweep throughput", ["sweep_throughput.py", "--part", "vmap", "--stacks", "1", "8",
                                       "--steps", "3" if quick else "20"], 30))
    return items


#: (item prefix, regex over the item's output, unit); each match is one row: its 'label'
#: group (or the item name) and its 'value' group
PATTERNS = [
    ("step", re.compile(r"^\s+(?P<label>engine_step|engine|hand_compiled|hand)\s+(?P<value>[\d.]+) ms/step", re.M), "ms/step"),
    ("step", re.compile(r"^\s+(?P<label>engine_step / hand_compiled|engine / hand)\s+= (?P<value>[\d.]+)x", re.M), "ratio"),
    ("data feed", re.compile(r"^(?P<label>\w+)\s+\w+\s+setup\s+[\d.]+ s\s+(?P<value>[\d,]+) images/s", re.M), "images/s"),
    ("estimators", re.compile(r"^(?P<label>\w+\s+\d+\s+\d+) \|\s*(?:[\d.]+|skipped)\s+\S+\s+\|\s+(?P<value>[\d.]+)", re.M), "s (memory-efficient)"),
    ("metric suite", re.compile(r"^(?P<label>\w+)\s+(?P<value>[\d.]+) s wall", re.M), "s"),
    ("sweep throughput", re.compile(r"^(?P<label>K=\s*\d+):.*vmap\s+(?P<value>[\d.]+) ms/step", re.M), "ms/step (vmap)"),
]


def rows_of(item: str, output: str) -> list[tuple[str, str, str, str]]:
    rows = []
    for prefix, pattern, unit in PATTERNS:
        if item.startswith(prefix):
            for match in pattern.finditer(output):
                rows.append((item, match.group("label").strip(), match.group("value").replace(",", ""), unit))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small settings, to check the script anywhere")
    parser.add_argument("--only", nargs="+", help="item name prefixes to run")
    parser.add_argument("--log", default="gpu_suite.log", help="every item's full output")
    parser.add_argument("--dry-run", action="store_true", help="list the items and their commands")
    args = parser.parse_args()
    items = [i for i in suite(args.device, args.quick) if not args.only or any(i[0].startswith(o) for o in args.only)]
    if args.dry_run:
        for name, command, limit in items:
            print(f"{name:<36} {limit:4d} s  python benchmarks/{' '.join(command)}")
        return 0
    table: list[tuple[str, str, str, str]] = []
    start = time.perf_counter()
    with open(args.log, "w") as log:
        for name, command, limit in items:
            t = time.perf_counter()
            try:
                done = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], capture_output=True,
                                      text=True, timeout=limit)
                output, status = done.stdout + done.stderr, f"rc {done.returncode}"
            except subprocess.TimeoutExpired as exc:
                output = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
                status = f"timed out after {limit} s"
            log.write(f"=== {name}: {' '.join(command)} ({status}, {time.perf_counter() - t:.0f} s)\n{output}\n")
            log.flush()
            found = rows_of(name, output)
            table.extend(found or [(name, "(no number)", status, "")])
            print(f"[{time.perf_counter() - start:6.0f} s] {name}: {status}, {len(found)} numbers", flush=True)
    header = ("item", "setting", "value", "unit")
    widths = [max(len(str(r[i])) for r in [header, *table]) for i in range(4)]
    print()
    for row in [header, tuple("-" * w for w in widths), *table]:
        print(" | ".join(str(v).ljust(w) for v, w in zip(row, widths)))
    print(f"\ntotal {time.perf_counter() - start:.0f} s; full output in {args.log}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
