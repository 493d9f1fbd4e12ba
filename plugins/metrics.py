"""The built-in metrics (docs/metrics.md), registered through the public ``pyrodisent_metrics``
hook.

Each is ``function(representation, dataset, random_state, **options) -> dict[str, float]``
from :mod:`pyrodisent.metrics` with the community reference's defaults; see docs/metrics.md.
"""

from __future__ import annotations

from pyrodisent import hookimpl
from pyrodisent.metrics.evaluate import BUILTIN_METRICS


@hookimpl
def pyrodisent_metrics():
    return dict(BUILTIN_METRICS)
