"""``pyrodisent sweep`` and ``pyrodisent report``."""

from __future__ import annotations

import argparse
from pathlib import Path

from pyrodisent.errors import UserError
from pyrodisent.sweep.report import write_report
from pyrodisent.sweep.runner import reevaluate_sweep, run_sweep
from pyrodisent.sweep.spec import load_sweep


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a sweep of trials on Ray (locally, or on a cluster with --address)",
        description="Run every trial of a sweep file (a base config plus grid, random and seed axes; "
        "docs/sweeps.md). Without --address Ray starts on this machine. Running the same command "
        "again skips finished trials and reruns failed or interrupted ones.",
    )
    p.add_argument("sweep", help="sweep YAML file (see configs/sweeps/)")
    p.add_argument("--out", help="sweep directory (default: sweeps/<sweep name>)")
    p.add_argument("--address", help="address of a running Ray cluster (e.g. auto, or ray://host:10001)")
    p.add_argument("--num-cpus", type=int, help="CPUs for a Ray started here (default: all)")
    p.add_argument("--num-gpus", type=int, help="GPUs for a Ray started here (default: all)")
    p.add_argument("--no-ray", action="store_true",
                   help="run the trials one at a time in this process, without Ray (debugging)")
    p.add_argument("--dry-run", action="store_true", help="list the trials and exit")
    p.add_argument("--reevaluate", action="store_true",
                   help="score the finished trials again with the file's current 'evaluate' section "
                   "(no training) and rewrite results.csv")
    p.set_defaults(func=_sweep)

    r = sub.add_parser(
        "report",
        help="results table and the papers' plots of a sweep directory",
        description="Rebuild results.csv of a sweep directory and draw the plots its columns allow "
        "(best-ELBO grouping coefficient per capacity, metric violins per model, metrics per method "
        "and strength over seeds, the metrics' rank correlation, TC vs grouping factor, TC_mean vs "
        "TC_sample per strength).",
    )
    r.add_argument("sweep_dir", help="the --out directory of `pyrodisent sweep`")
    r.add_argument("--out", help="folder for the PNG files (default: SWEEP_DIR/report)")
    r.add_argument("--udr", action="store_true",
                   help="also score UDR (Duan et al. 2020) of the trials that differ only in the seed: loads "
                   "every finished model, writes udr.csv and metric.udr / metric.udr_lasso columns")
    r.set_defaults(func=_report)


def _sweep(args) -> int:
    spec = load_sweep(args.sweep)
    if args.dry_run:
        trials = spec.trials()
        for t in trials:
            print(f"{t.index:5d} {t.trial_id}  " + ", ".join(f"{k}={v}" for k, v in t.params.items()))
        print(f"{len(trials)} trials")
        return 0
    if args.address and args.no_ray:
        raise UserError("--address and --no-ray exclude each other")
    for name in ("num_cpus", "num_gpus"):
        value = getattr(args, name)
        if value is not None and value < (1 if name == "num_cpus" else 0):
            raise UserError(f"--{name.replace('_', '-')} must be >= {1 if name == 'num_cpus' else 0}, got {value}")
    out = Path(args.out) if args.out else Path("sweeps") / spec.name
    if args.reevaluate:
        if not out.is_dir():
            raise UserError(f"--reevaluate needs the sweep directory {str(out)!r}; run the sweep first")
        reevaluate_sweep(spec, out)
        return 0
    counts = run_sweep(spec, out, address=args.address, num_cpus=args.num_cpus, num_gpus=args.num_gpus,
                       use_ray=not args.no_ray)
    return 0 if counts["failed"] == 0 else 1


def _report(args) -> int:
    out = write_report(args.sweep_dir, args.out, udr=args.udr)
    for line in out["lines"]:
        print(line)
    return 0
