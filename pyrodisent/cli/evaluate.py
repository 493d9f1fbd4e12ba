"""``pyrodisent evaluate RUN_DIR [--metrics ...] [--fast]``."""

from __future__ import annotations

import argparse
from pathlib import Path

# the module, not the function: tests replace pyrodisent.engine.load_run
from pyrodisent import engine
from pyrodisent.errors import UserError
from pyrodisent.metrics.evaluate import DEFAULT_METRICS, evaluate_run
from pyrodisent.plugin_manager import get_component


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="compute disentanglement metrics of a trained run",
        description="Load a run's checkpoint, compute the chosen metrics (reference defaults, "
        "seed 0 per metric) and write RUN_DIR/evaluation.json, TensorBoard scalars in RUN_DIR/tb "
        "and PNG plots in RUN_DIR/plots.",
    )
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run directory written by `pyrodisent train`"
    )
    p.add_argument(
        "--metrics",
        nargs="+",
        metavar="NAME",
        default=list(DEFAULT_METRICS),
        help=f"metric names (default: {' '.join(DEFAULT_METRICS)}); "
        "`pyrodisent plugins` lists every registered one",
    )
    p.add_argument(
        "--fast", action="store_true", help="smaller point counts (not comparable with papers)"
    )
    p.add_argument(
        "--sampled", action="store_true", help="use z ~ q(z|x) instead of the mean representation"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random_state of every metric (default 0, as the reference)",
    )
    p.add_argument("--device", default="cpu", help="device to load the model on (default cpu)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_evaluate)


def _evaluate(args) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory {str(run_dir)!r} does not exist")
    for name in args.metrics:
        get_component("metrics", name)  # unknown names fail before the model loads
    model, dataset, _config = engine.load_run(run_dir, device=args.device)
    result = evaluate_run(
        model,
        dataset,
        args.metrics,
        out_dir=run_dir,
        random_state=args.seed,
        fast=args.fast,
        sampled=args.sampled,
        plots=not args.no_plots,
        progress=not args.no_progress,
    )
    width = max(len(k) for k in result["scores"]) if result["scores"] else 0
    for key, value in sorted(result["scores"].items()):
        if "/factor_" in key or "/group_" in key or "/match_" in key:
            continue
        print(f"{key:<{width}}  {value:.4f}")
    print(
        f"wrote {run_dir / 'evaluation.json'}, TensorBoard scalars in {run_dir / 'tb'}"
        + ("" if args.no_plots else f", plots in {run_dir / 'plots'}")
    )
    return 0
