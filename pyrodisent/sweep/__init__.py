"""Sweeps: many runs from one file, on Ray (docs/sweeps.md).

``load_sweep`` reads a sweep file into a :class:`SweepSpec` (base config + grid, random and
seed axes), ``run_sweep`` runs its unfinished trials (each an ordinary run directory made by
:func:`pyrodisent.engine.train`), ``write_report`` draws the papers' plots from the results.
"""

from pyrodisent.sweep.report import write_report
from pyrodisent.sweep.runner import run_sweep
from pyrodisent.sweep.spec import SweepError, SweepSpec, Trial, load_sweep, parse_sweep
from pyrodisent.sweep.state import SweepDir

__all__ = ["SweepDir", "SweepError", "SweepSpec", "Trial", "load_sweep", "parse_sweep", "run_sweep", "write_report"]
