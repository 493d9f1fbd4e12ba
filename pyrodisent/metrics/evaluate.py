"""Running metrics by name: during training (:func:`evaluate_metrics`) and on a finished run
(:func:`evaluate_run`, behind ``pyrodisent evaluate``).

Every metric gets its own ``np.random.RandomState(random_state)``, as the reference
evaluation does (seed 0 per metric), so a metric's value does not depend on which other
metrics ran before it. ``fast=True`` replaces the reference point counts by the smaller
ones of :data:`FAST_OPTIONS` (for periodic evaluation during training and CI; the numbers
are then noisier and not comparable with published ones).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pyrodisent.atomic_file import write_json_atomic
from pyrodisent.metrics.active_units import active_units_score
from pyrodisent.metrics.aligned_r2 import aligned_r2_score
from pyrodisent.metrics.beta_vae import beta_vae_score
from pyrodisent.metrics.dci import dci_score
from pyrodisent.metrics.downstream import downstream_score
from pyrodisent.metrics.factor_vae import factor_vae_score
from pyrodisent.metrics.gaussian_tc import gaussian_tc_score
from pyrodisent.metrics.irs import irs_score
from pyrodisent.metrics.latent_mi import latent_mi_score
from pyrodisent.metrics.mig import grouped_mig_score, mig_chen_score, mig_score
from pyrodisent.metrics.modularity import modularity_explicitness_score
from pyrodisent.metrics.omniscient import omniscient_score
from pyrodisent.metrics.partial_correlation import partial_correlation_score
from pyrodisent.metrics.partial_disentanglement import partial_disentanglement_score
from pyrodisent.metrics.sap import sap_score
from pyrodisent.metrics.utils import (
    Representation,
    as_representation,
)
from pyrodisent.plugin_manager import get_component

#: name → representation-level metric; what ``plugins/metrics.py`` registers.
BUILTIN_METRICS: dict[str, Callable[..., dict]] = {
    "mig": mig_score,
    "mig_chen": mig_chen_score,
    "grouped_mig": grouped_mig_score,
    "sap": sap_score,
    "irs": irs_score,
    "downstream": downstream_score,
    "dci": dci_score,
    "factor_vae": factor_vae_score,
    "beta_vae": beta_vae_score,
    "modularity": modularity_explicitness_score,
    "gaussian_tc": gaussian_tc_score,
    "partial_correlation": partial_correlation_score,
    "aligned_r2": aligned_r2_score,
    "partial_disentanglement": partial_disentanglement_score,
    "omniscient": omniscient_score,
    "active_units": active_units_score,
    "latent_mi": latent_mi_score,
}

#: the suite ``pyrodisent evaluate`` runs without ``--metrics`` (the scores of docs/metrics.md)
DEFAULT_METRICS = (
    "mig",
    "sap",
    "irs",
    "dci",
    "factor_vae",
    "beta_vae",
    "modularity",
    "gaussian_tc",
    "active_units",
    "latent_mi",
)

#: smaller point counts for ``fast=True`` (periodic evaluation during training, CI)
FAST_OPTIONS: dict[str, dict] = {
    "mig": {"num_train": 2000},
    "mig_chen": {"num_eval": 2000},
    "grouped_mig": {"num_train": 2000},
    "sap": {"num_train": 2000, "num_test": 1000},
    "irs": {"num_train": 2000},
    "downstream": {"num_train": [10, 100, 1000], "num_test": 1000},
    "dci": {"num_train": 1000, "num_test": 500},
    "factor_vae": {"num_variance_estimate": 2000, "num_train": 500, "num_eval": 250},
    "beta_vae": {"num_train": 500, "num_eval": 250},
    "modularity": {"num_train": 2000, "num_test": 1000},
    "gaussian_tc": {"num_points": 1000},
    "partial_correlation": {"num_points": 500},
    "aligned_r2": {"num_points": 1000},
    "partial_disentanglement": {"num_points": 1000},
    "omniscient": {"num_points": 500},
    "active_units": {"num_points": 2000},
    "latent_mi": {"num_points": 2000},
}


def _metric(name: str) -> Callable[..., dict]:
    return get_component("metrics", name)


def _check_names(names) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError("names: list at least one metric")
    return names


def iter_metrics(
    representation,
    dataset,
    names: Sequence[str],
    random_state: int = 0,
    fast: bool = False,
    options: dict | None = None,
):
    """Yield (name, scores, seconds) per metric, each with a fresh RandomState(random_state)."""
    if isinstance(random_state, np.random.RandomState) or not isinstance(
        random_state, (int, np.integer)
    ):
        raise ValueError(
            f"random_state must be an int seed (one fresh RandomState per metric), got {random_state!r}"
        )
    options = dict(options or {})
    unknown = set(options) - set(names)
    if unknown:
        raise ValueError(f"options given for metrics that are not run: {sorted(unknown)}")
    rep = as_representation(representation)
    functions = {name: _metric(name) for name in names}  # fail on a bad name before any work
    for name in names:
        kwargs = dict(FAST_OPTIONS.get(name, {})) if fast else {}
        kwargs.update(options.get(name, {}))
        start = time.perf_counter()
        scores = functions[name](rep, dataset, np.random.RandomState(int(random_state)), **kwargs)
        yield name, {k: float(v) for k, v in scores.items()}, time.perf_counter() - start


def evaluate_metrics(
    represent,
    dataset,
    names: Sequence[str],
    random_state: int = 0,
    fast: bool = True,
    options: dict | None = None,
) -> dict[str, float]:
    """Scores of the named metrics (registry ``metrics``) merged into one dict.

    ``represent``: ``x -> codes``, a model with ``encode`` or a :class:`Representation`.
    ``options``: per-metric keyword arguments, ``{"dci": {"num_train": 500}}``.
    """
    scores: dict[str, float] = {}
    for _, values, _ in iter_metrics(
        represent, dataset, _check_names(names), random_state, fast, options
    ):
        scores.update(values)
    return scores


def _model_device(model) -> torch.device | None:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return None


def evaluate_run(
    model,
    dataset,
    metrics: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    random_state: int = 0,
    fast: bool = False,
    sampled: bool = False,
    options: dict | None = None,
    plots: bool = True,
    tensorboard: bool = True,
    progress: bool = True,
    step: int = 0,
    plot_points: int = 2000,
) -> dict:
    """Evaluate a trained ``model`` (``encode(x) -> (loc, scale)``, ``mean_image(z)``,
    ``latent_dim``) on ``dataset`` and write the results into ``out_dir``:

    - ``evaluation.json``: ``{"scores": {...}, "seconds": {...}, "metrics": [...],
      "random_state": ..., "fast": ..., "representation": "mean" | "sampled"}``;
    - the scalars under tags ``evaluation/<score>`` in a TensorBoard log in ``out_dir/tb``;
    - PNG plots (``plots/``): latent traversals, the factor × latent MI heatmap, the latent
      pair plot (from ``plot_points`` random observations).

    Returns the dict written to ``evaluation.json`` (plus ``"plots"``: the PNG paths).
    """
    names = _check_names(metrics if metrics is not None else DEFAULT_METRICS)
    device = _model_device(model)
    generator = torch.Generator().manual_seed(int(random_state)) if sampled else None
    rep = Representation(encode=model.encode, sampled=sampled, generator=generator, device=device)
    if hasattr(model, "eval"):
        model.eval()
    result = {
        "metrics": names,
        "random_state": int(random_state),
        "fast": bool(fast),
        "representation": "sampled" if sampled else "mean",
        "scores": {},
        "seconds": {},
    }
    bar = tqdm(total=len(names), desc="metrics", disable=not progress, leave=False)
    for name, scores, seconds in iter_metrics(rep, dataset, names, random_state, fast, options):
        result["scores"].update(scores)
        result["seconds"][name] = round(seconds, 3)
        bar.set_postfix_str(name)
        bar.update(1)
    bar.close()
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "evaluation.json", result, sort_keys=True)
        if tensorboard:
            # tensorboard: only when scalars are written (its import costs seconds)
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=str(out / "tb"))
            for key, value in result["scores"].items():
                if math.isfinite(value):
                    writer.add_scalar(f"evaluation/{key}", value, step)
            writer.close()
        if plots:
            # matplotlib: only when plots are drawn, not whenever metrics are imported
            from pyrodisent.metrics.plots import save_evaluation_plots

            result = dict(result)
            paths = save_evaluation_plots(model, dataset, out / "plots", random_state, plot_points)
            result["plots"] = [str(p) for p in paths]
    return result
