"""``pyrodisent data generate`` and ``pyrodisent data list``.

``pyrodisent data generate NAME --out FILE.h5 [--set key=value ...]`` builds the registered
data set NAME with the given options (values parsed as YAML: ``--set positions=8``,
``--set rho=0.9``) and caches it to HDF5 (layout: :mod:`pyrodisent.data.hdf5`); the ``h5``
loader reads it back: ``get_dataset("h5", path="FILE.h5")``.
"""

from __future__ import annotations

import argparse

import yaml

from pyrodisent.data import get_dataset
from pyrodisent.data.hdf5 import save_h5
from pyrodisent.errors import UserError
from pyrodisent.plugin_manager import get_plugin_manager


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="generate, cache and list data sets")
    data_sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    g = data_sub.add_parser(
        "generate",
        help="build a registered data set and cache it to an HDF5 file",
        description="Build data set NAME (a generator or a loader) and write it to --out as HDF5; "
        "read it back with the 'h5' data set: get_dataset('h5', path=FILE).",
    )
    g.add_argument("name", help="registered data set name (see `pyrodisent data list`)")
    g.add_argument("--out", required=True, help="output .h5 file")
    g.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="data set option, e.g. --set orientations=10 (repeatable)")
    g.set_defaults(func=_generate)
    ls = data_sub.add_parser("list", help="list the registered data sets")
    ls.set_defaults(func=_list)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def parse_options(items: list[str]) -> dict:
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            options[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise UserError(f"--set {item!r}: value is not valid YAML ({exc})") from None
    return options


def _generate(args) -> int:
    options = parse_options(args.options)
    if args.name == "h5":
        raise UserError("'h5' reads caches; name a generator or loader to cache")
    try:
        dataset = get_dataset(args.name, **options)
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from None
    out = save_h5(dataset, args.out, options={"dataset": args.name, **options})
    shape = "×".join(str(s) for s in dataset.images.shape)
    factors = ", ".join(f"{n} {s}" for n, s in zip(dataset.factor_names, dataset.factor_sizes)) or "none"
    print(f"wrote {out}: {args.name}, images {shape} {str(dataset.images.dtype).replace('torch.', '')}; factors: {factors}")
    return 0


def _list(args) -> int:
    for name, comp in sorted(get_plugin_manager().components("datasets").items()):
        doc = (comp.factory.__doc__ or "").strip().splitlines()
        print(f"{name:22s} {doc[0] if doc else ''}  [{comp.plugin}]")
    return 0
