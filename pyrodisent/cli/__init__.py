"""The ``pyrodisent`` command line.

One package on top of the layers (it may import engine, metrics, sweep and data; none of
them imports it). Each module of :data:`COMMAND_MODULES` exposes
``add_commands(subparsers)``, which adds parsers whose ``func(args) -> int`` runs the
command: :mod:`.train` (``train``, ``plugins``), :mod:`.evaluate` (``evaluate``),
:mod:`.sweep` (``sweep``, ``report``) and :mod:`.data` (``data generate``, ``data list``).
Errors a user can fix (:class:`~pyrodisent.errors.UserError` and its subclasses, unknown
component names, missing files) print one clear message and exit 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from pyrodisent.cli import data, evaluate, sweep, train
from pyrodisent.data.paths import DataFileError
from pyrodisent.errors import UserError  # re-exported: pyrodisent.cli.UserError
from pyrodisent.plugin_manager import UnknownComponentError

COMMAND_MODULES = (train, evaluate, sweep, data)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyrodisent", description="Disentangled representation learning on Pyro."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (UserError, UnknownComponentError, FileNotFoundError, DataFileError) as exc:
        print(f"pyrodisent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`pyrodisent plugins | head`): not an error of ours. Point
        # stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

__all__ = ["COMMAND_MODULES", "UserError", "build_parser", "main"]
