"""The ``pyrodisent`` command line.

Each area registers its own subcommands: a module listed in :data:`COMMAND_MODULES`
exposes ``add_commands(subparsers)``, which adds parsers whose ``func(args) -> int`` runs
the command. Errors a user can fix (:class:`~pyrodisent.errors.UserError` and its
subclasses, unknown component names, missing files) print one clear message and exit 2;
no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from pyrodisent.errors import UserError  # noqa: F401  (re-exported: pyrodisent.cli.UserError)

COMMAND_MODULES = (
    "pyrodisent.engine.cli",  # train, plugins
    "pyrodisent.metrics.cli",  # evaluate
    "pyrodisent.sweep.cli",  # sweep, report
    "pyrodisent.data.cli",  # data generate, data list
)




def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyrodisent", description="Disentangled representation learning on Pyro."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pyrodisent.data.paths import DataFileError
    from pyrodisent.plugin_manager import UnknownComponentError

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


if __name__ == "__main__":
    sys.exit(main())
