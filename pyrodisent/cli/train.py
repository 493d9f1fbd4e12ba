"""``pyrodisent train`` and ``pyrodisent plugins``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyrodisent.engine.config import ConfigError, load_config
from pyrodisent.engine.trainer import train
from pyrodisent.plugin_manager import COMPONENT_KINDS, get_plugin_manager


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a YAML config (resumes if the run directory has a checkpoint)",
        description="Train a model from a YAML config. Without CONFIG, trains the embedded "
        "quickstart (a β-TCVAE on generated dSprites). Running the same command again resumes.",
    )
    p.add_argument("config", nargs="?", help="YAML config (default: the embedded quickstart)")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.steps=100 --set regularizers.0.beta=4")
    p.add_argument("--max-steps", type=int, help="stop after this many steps in total (smoke runs)")
    p.add_argument("--device", choices=None, help="auto | cpu | cuda | cuda:N (overrides the config)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    q = sub.add_parser("plugins", help="list every registered component and where it came from")
    q.set_defaults(func=_plugins)


def _train(args) -> int:
    config = load_config(args.config, args.overrides)
    if args.device:
        config.device = args.device
    if args.max_steps is not None and args.max_steps < 1:
        raise ConfigError(f"--max-steps must be >= 1, got {args.max_steps}")
    name = Path(args.config).stem if args.config else "quickstart"
    out = Path(args.out) if args.out else Path("runs") / name
    summary = train(config, out, max_steps=args.max_steps, progress=not args.no_progress)
    state = "finished" if summary["finished"] else ("interrupted" if summary["interrupted"] else "paused")
    print(
        f"{state} at step {summary['steps_done']}/{summary['steps_target']} on {summary['device']} "
        f"({summary['wall_time_s']:.1f} s, {summary['images_per_s']} images/s); loss "
        f"{summary['final_terms'].get('loss', float('nan')):.4g}\n"
        f"run directory: {out}\n"
        f"  summary:     {out / 'summary.json'}\n"
        f"  checkpoint:  {out / 'checkpoint.pt'} (run the same command again to resume)\n"
        f"  TensorBoard: tensorboard --logdir {out / 'tb'}\n"
        f"  metrics:     pyrodisent evaluate {out}"
    )
    return 0


def _plugins(args) -> int:
    manager = get_plugin_manager()
    for kind in COMPONENT_KINDS:
        comps = manager.components(kind)
        print(f"{kind}:")
        if not comps:
            print("  (none)")
        for name, c in sorted(comps.items()):
            where = getattr(c.factory, "__module__", "?")
            print(f"  {name:<22} plugin {c.plugin:<16} from {c.origin:<14} ({where})")
    if manager.failures:
        print("failed to load:", file=sys.stderr)
        for f in manager.failures:
            print(f"  {f.name} (from {f.origin}): {f.error}", file=sys.stderr)
    return 0
