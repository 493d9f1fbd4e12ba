"""UDR of a sweep's trials (Duan et al. 2020, §3): ``pyrodisent report SWEEP_DIR --udr``.

UDR ranks a model against the models trained with the same hyper-parameters and other seeds
(:mod:`pyrodisent.metrics.udr`). Here a *group* is the finished trials with the same value on
every axis of the manifest except ``seed``; a group of M ≥ 2 trials is scored together:

1. each trial's model is loaded (:func:`pyrodisent.engine.load_run`, on the CPU);
2. every model encodes the same ``num_points`` = 1,000 observations, drawn from the data set of
   the group's first trial with ``np.random.RandomState(random_state)`` (0: the same draw in
   every group and on every rerun);
3. UDR_S (Spearman) and UDR_L (Lasso) of each model: the median of its scores against the
   M − 1 other models of its group.

``report/udr.csv`` has one row per scored trial: ``trial``, the group's axis columns, ``seed``,
``udr`` (UDR_S), ``udr_lasso`` (UDR_L), ``n_models`` (M) and ``informative_latents`` (latents
with mean KL to N(0, 1) above 0.01). A finished trial without another seed of its settings has
no UDR. Loading every model is what makes this slow on a large sweep, hence a flag.
"""

from __future__ import annotations

from typing import Any

from pyrodisent.engine import load_run
from pyrodisent.metrics.udr import NUM_POINTS, encode_points, udr
from pyrodisent.sweep.state import SweepDir

SEED_AXIS = "seed"
UDR_NAME = "udr.csv"
#: the seed of the points every model of a group encodes
RANDOM_STATE = 0


def axis_names(sweep: SweepDir) -> list[str]:
    """The sweep's axis names (manifest ``params``), in order."""
    names: dict[str, None] = {}
    for entry in sweep.manifest()["trials"]:
        names.update(dict.fromkeys(entry["params"]))
    return list(names)


def seed_groups(
    rows: list[dict[str, Any]], axes: list[str]
) -> tuple[list[tuple[dict[str, Any], list[dict]]], list[dict]]:
    """(groups, alone): the finished trials grouped by every axis except ``seed`` — each group
    as (its axis values, its rows) when it has ≥ 2 trials — and the finished trials alone in
    their group."""
    keys = [name for name in axes if name != SEED_AXIS]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row.get("state") == "finished":
            groups.setdefault(tuple(str(row.get(k)) for k in keys), []).append(row)
    paired = [({k: members[0].get(k) for k in keys}, members) for members in groups.values() if len(members) >= 2]
    alone = [members[0] for members in groups.values() if len(members) == 1]
    return paired, alone


def sweep_udr(
    sweep: SweepDir, rows: list[dict[str, Any]], num_points: int = NUM_POINTS, random_state: int = RANDOM_STATE
) -> tuple[list[dict[str, Any]], list[str]]:
    """(udr.csv rows, report lines) for the finished trials of ``rows`` (module docstring)."""
    groups, alone = seed_groups(rows, axis_names(sweep))
    if not groups:
        return [], [f"skipped {UDR_NAME} (Duan et al. 2020): no two finished trials differ only in the seed "
                    f"(add seeds: to the sweep file)"]
    records, lines = [], []
    for values, members in groups:
        models, dataset = [], None
        for row in members:
            model, data, _ = load_run(sweep.trial_dir(row["trial"]))
            models.append(model)
            dataset = dataset if dataset is not None else data
        locs, scales = encode_points(models, dataset, num_points, random_state)
        spearman = udr(locs, scales, correlation="spearman")
        lasso = udr(locs, scales, correlation="lasso")
        for k, row in enumerate(members):
            records.append({"trial": row["trial"], **values, SEED_AXIS: row.get(SEED_AXIS),
                            "udr": float(spearman.udr[k]), "udr_lasso": float(lasso.udr[k]),
                            "n_models": len(members), "informative_latents": int(spearman.informative[k].sum())})
        label = ", ".join(f"{k}={v}" for k, v in values.items()) or "all trials"
        lines.append(f"  {label}: {len(members)} seeds, udr " + " ".join(f"{v:.3f}" for v in spearman.udr)
                     + ", udr_lasso " + " ".join(f"{v:.3f}" for v in lasso.udr))
    header = (f"wrote {UDR_NAME} (Duan et al. 2020): UDR_S (udr) and UDR_L (udr_lasso) of {len(records)} "
              f"trials in {len(groups)} group(s) of seeds, {num_points} points each, informative latents "
              f"KL > 0.01")
    if alone:
        lines.append(f"  {len(alone)} finished trial(s) have no other seed with the same settings: no UDR")
    return records, [header, *lines]

