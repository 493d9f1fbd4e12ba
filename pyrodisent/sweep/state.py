"""The sweep directory: per-trial state records written atomically, and the results table.

Layout of ``SWEEP_DIR``::

    sweep.yaml              the sweep file as run (base config inlined)
    manifest.json           every trial in order: id, index, axis values
    results.csv             one row per trial (written during and after the sweep)
    trials/<id>/            an ordinary run directory (config.yaml, checkpoint.pt,
                            summary.json, tb/) made by ``pyrodisent.engine.train``, plus
        trial.json          the trial's state record
        sweep_evaluation.json   metrics and Gaussian TC of the trained model

A state record holds ``state`` (``pending`` | ``running`` | ``finished`` | ``failed``),
``attempts`` (attempts started over all invocations), ``error`` (the last failure's
message) and timing. Every write goes to a temporary file in the same directory, is
fsynced and renamed over the old record, so a killed process leaves the old record or the
new one, never half of one. A record left ``running`` by a killed sweep reads as
interrupted: the next invocation runs the trial again, resuming from its checkpoint.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import socket
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from pyrodisent.atomic_file import write_json_atomic, write_text_atomic
from pyrodisent.sweep.spec import SweepError, SweepSpec, Trial

STATES = ("pending", "running", "finished", "failed")
RECORD_NAME = "trial.json"
EVALUATION_NAME = "sweep_evaluation.json"
RESULTS_NAME = "results.csv"




def read_json(path: str | Path) -> Any | None:
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # only a file written outside write_text_atomic can be torn


class SweepDir:
    """A sweep's directory on disk (module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.trials_root = self.root / "trials"

    # ----------------------------------------------------------------- paths
    def trial_dir(self, trial_id: str) -> Path:
        return self.trials_root / trial_id

    def record_path(self, trial_id: str) -> Path:
        return self.trial_dir(trial_id) / RECORD_NAME

    # --------------------------------------------------------------- records
    def read(self, trial_id: str) -> dict[str, Any] | None:
        return read_json(self.record_path(trial_id))

    def write(self, record: dict[str, Any]) -> None:
        if record.get("state") not in STATES:
            raise ValueError(f"trial state must be one of {STATES}, got {record.get('state')!r}")
        self.trial_dir(record["trial"]).mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.record_path(record["trial"]), record)

    def update(self, trial_id: str, **changes: Any) -> dict[str, Any]:
        record = self.read(trial_id) or {"trial": trial_id, "state": "pending", "attempts": 0}
        record.update(changes)
        self.write(record)
        return record

    @contextmanager
    def lock(self):
        """Hold an exclusive lock on the sweep directory while a driver runs it.

        ``flock`` on ``.sweep.lock``: a second ``pyrodisent sweep`` on the same directory
        stops with an error instead of running trials twice; the kernel drops the lock
        when its holder dies, so a killed sweep never leaves a stale lock.
        """
        import fcntl  # POSIX only: the rest of the module works without it

        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / ".sweep.lock", "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise SweepError(
                    f"{str(self.root)!r} is being run by another `pyrodisent sweep` ({holder}); wait for "
                    f"it or stop it, then run this command again"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
            handle.flush()
            yield
        finally:
            handle.close()

    # ------------------------------------------------------------ set-up
    def prepare(self, spec: SweepSpec, trials: list[Trial]) -> dict[str, dict[str, Any]]:
        """Write sweep.yaml and manifest.json; return every trial's record (read, or a new
        pending one kept in memory: a trial's record is written when it is first submitted,
        see :meth:`describe`, so a sweep of 40,000 trials does not start with 40,000 writes)."""
        self.trials_root.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.root / "sweep.yaml", yaml.safe_dump(spec.source, sort_keys=False))
        manifest = {
            "name": spec.name,
            "trials": [{"trial": t.trial_id, "index": t.index, "params": t.params} for t in trials],
        }
        write_json_atomic(self.root / "manifest.json", manifest)
        records = {}
        for t in trials:
            record = self.read(t.trial_id)
            if record is None:
                record = {"trial": t.trial_id, "state": "pending", "attempts": 0, "error": None}
            records[t.trial_id] = record
        return records

    def describe(self, trial: Trial, record: dict[str, Any]) -> dict[str, Any]:
        """Write the trial's index, axis values and config into its record if they changed."""
        if record.get("index") != trial.index or record.get("params") != trial.params or "config" not in record:
            record = {**record, "index": trial.index, "params": trial.params, "config": trial.config}
            self.write(record)
        return record

    def manifest(self) -> dict[str, Any]:
        data = read_json(self.root / "manifest.json")
        if data is None:
            raise SweepError(
                f"{str(self.root)!r} is not a sweep directory (no manifest.json); pass the --out of "
                f"`pyrodisent sweep`"
            )
        return data

    # --------------------------------------------------------------- results
    def rows(self) -> list[dict[str, Any]]:
        """One row per trial of the manifest (module docstring of :mod:`pyrodisent.sweep.report`)."""
        rows = []
        for entry in self.manifest()["trials"]:
            rows.append(self.row(entry["trial"], entry["index"], entry["params"]))
        return rows

    def row(self, trial_id: str, index: int, params: dict[str, Any]) -> dict[str, Any]:
        record = self.read(trial_id) or {}
        directory = self.trial_dir(trial_id)
        summary = read_json(directory / "summary.json") or {}
        evaluation = read_json(directory / EVALUATION_NAME) or {}
        row: dict[str, Any] = {"trial": trial_id, "index": index}
        for name, value in params.items():
            row[name] = _cell(value)
        row["state"] = record.get("state", "pending")
        row["attempts"] = record.get("attempts", 0)
        row["error"] = record.get("error") or ""
        row["steps"] = summary.get("steps_done")
        row["wall_time_s"] = summary.get("wall_time_s")
        row["trial_time_s"] = record.get("trial_time_s")
        for key, value in (summary.get("final_terms") or {}).items():
            row[f"loss.{key}"] = value
        for key, value in _flatten(evaluation.get("metrics") or {}).items():
            row[f"metric.{key}"] = value
        for key, value in (evaluation.get("gaussian_tc") or {}).items():
            row[key] = value
        for key, value in (evaluation.get("elbo_terms") or {}).items():
            row[f"eval.{key}"] = value
        for key, value in (evaluation.get("dataset_tc") or {}).items():
            row[f"eval.dataset_{key}"] = value
        config = record.get("config")
        if config is None and (directory / "config.yaml").is_file():
            config = yaml.safe_load((directory / "config.yaml").read_text())
        if "method" not in params:  # an axis named "method" labels the trials itself
            row["method"] = method_label(config) if config else ""
        for key, value in flatten_config(config or {}).items():
            row[f"config.{key}"] = value
        return row

    def write_results(self, rows: Iterable[dict[str, Any]] | None = None) -> Path:
        rows = list(self.rows() if rows is None else rows)
        path = self.root / RESULTS_NAME
        write_text_atomic(path, rows_to_csv(rows))
        return path


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, (int, float, str, bool)) or value is None:
            out[name] = value
        else:
            out[name] = _cell(value)
    return out


def flatten_config(config: dict[str, Any]) -> dict[str, Any]:
    """Flat ``section.key`` columns of a run config; regularizers keyed by name."""
    config = dict(config)
    regularizers = config.pop("regularizers", None) or []
    flat = _flatten(config)
    for reg in regularizers:
        if isinstance(reg, dict) and "name" in reg:
            for key, value in reg.items():
                if key != "name":
                    flat[f"regularizers.{reg['name']}.{key}"] = _cell(value)
    flat["regularizers"] = "+".join(r["name"] for r in regularizers if isinstance(r, dict) and "name" in r)
    return flat


def method_label(config: dict[str, Any]) -> str:
    """``model`` name plus regularizer names, e.g. ``vae+grouped_tc``."""
    model = config.get("model", {})
    name = model.get("name", "?") if isinstance(model, dict) else str(model)
    regs = [r["name"] for r in config.get("regularizers") or [] if isinstance(r, dict) and "name" in r]
    return "+".join([name, *regs])


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return out.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
