"""Running a sweep's trials on Ray (locally by default, on a cluster unchanged).

Each trial is one Ray task with the sweep's resources (``num_cpus``, a fractional
``num_gpus`` so several small models share a GPU, ``memory``). The task calls
:func:`pyrodisent.engine.train` on the trial's run directory — the same engine as
``pyrodisent train``, so a rerun resumes from the trial's checkpoint — then evaluates the
trained model (metrics, Gaussian TC) and returns. The driver keeps the per-trial records
(:mod:`pyrodisent.sweep.state`):

* a Python exception inside a trial is caught in the worker and returned: a config or user
  error (:class:`pyrodisent.cli.UserError`, e.g. a bad option value, or a diverged run) is
  recorded as failed at once, since it repeats; any other exception is retried;
* a worker that dies (killed, out of memory, node lost) surfaces as a Ray error and is
  retried;
* a trial is retried until it has had ``max_attempts`` attempts in this invocation, then
  recorded as failed with its error. Running the sweep again reruns failed and interrupted
  trials with a fresh budget and skips finished ones.

On a cluster the sweep directory must be on a file system every node sees (NFS, a shared
volume), and pyrodisent with its plugins must be installed on every node.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from pyrodisent.atomic_file import write_json_atomic
from pyrodisent.data import FactorDataset, get_dataset
from pyrodisent.diagnostics import dataset_total_correlation, elbo_terms, gaussian_tc_diagnostics
from pyrodisent.engine import load_run, train
from pyrodisent.errors import UserError
from pyrodisent.estimators import normalize_groups
from pyrodisent.metrics import evaluate_metrics
from pyrodisent.plugin_manager import UnknownComponentError, get_component
from pyrodisent.regularizer import regularizer
from pyrodisent.sweep.spec import Evaluation, SweepError, SweepSpec, Trial
from pyrodisent.sweep.state import EVALUATION_NAME, SweepDir

RAY_INSTALL_HINT = (
    "Ray is not installed: install the sweep extra with `pip install 'pyrodisent[sweep]'` "
    "(or `pip install 'ray>=2.9' pandas`), or pass --no-ray to run the trials one at a time "
    "in this process"
)


def import_ray():
    try:
        import ray  # optional (the 'sweep' extra)
    except ImportError:
        raise UserError(RAY_INSTALL_HINT) from None
    return ray


def check_evaluation(evaluation: Evaluation) -> None:
    """Fail before any trial runs when a requested metric is not registered."""
    for name in evaluation.metrics:
        try:
            get_component("metrics", name)
        except UnknownComponentError as exc:
            raise SweepError(f"sweep key 'evaluate.metrics': {exc}") from None


# --------------------------------------------------------------- one trial
def execute_trial(
    root: str,
    trial_id: str,
    config: dict[str, Any],
    evaluation: dict[str, Any],
    attempt: int,
    num_threads: int | None = None,
) -> dict[str, Any]:
    """Train and evaluate one trial in its run directory; never raises for trial errors.

    Returns ``{"ok": True, "summary", "evaluation", ...}`` or ``{"ok": False, "error",
    "traceback", "retryable"}``.
    """
    start = time.time()
    if num_threads:
        torch.set_num_threads(num_threads)
    sweep = SweepDir(root)
    host = socket.gethostname()
    sweep.update(trial_id, state="running", attempts=attempt, started_at=start, host=host, pid=os.getpid())
    try:
        summary = _train_trial(sweep.trial_dir(trial_id), config)
        result = evaluate_trial(sweep.trial_dir(trial_id), Evaluation(**evaluation))
        return {"ok": True, "summary": summary, "evaluation": result, "host": host,
                "trial_time_s": round(time.time() - start, 3)}
    except Exception as exc:  # returned, classified by the driver
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "retryable": not isinstance(exc, UserError),
            "host": host,
            "trial_time_s": round(time.time() - start, 3),
        }


def _train_trial(run_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
    summary = train(config, run_dir, progress=False)
    if not summary.get("finished"):
        raise RuntimeError(
            f"training stopped at step {summary.get('steps_done')}/{summary.get('steps_target')} "
            f"(interrupted); the checkpoint is kept and the next attempt resumes from it"
        )
    return summary


def _per_layer_scores(model, dataset, config, evaluation: Evaluation, heldout) -> dict[str, float]:
    """``<score>/layer<i>`` and ``reconstruction/layer<i>`` for each DeVAE layer listed that the
    model has (a sweep may mix layer counts: the one-space row of the DeVAE paper's Table 2 has
    layer 0 only)."""
    num_layers = getattr(model, "num_layers", None)
    if num_layers is None:
        raise UserError(
            f"evaluate.layers is for models with latent layers (devae); this run's model is "
            f"{config.model.name!r}: remove evaluate.layers"
        )
    scores: dict[str, float] = {}
    x = heldout(torch.Generator().manual_seed(config.seed + 2))  # the same points for every layer
    kept = model.representation_layer
    try:
        for i in (i for i in evaluation.layers if i < num_layers):
            model.representation_layer = i
            if evaluation.metrics:
                layer_scores = evaluate_metrics(
                    model, dataset, list(evaluation.metrics), random_state=config.seed,
                    fast=evaluation.fast, options=evaluation.options or None,
                )
                scores.update({f"{k}/layer{i}": v for k, v in layer_scores.items()})
            with torch.random.fork_rng():
                torch.manual_seed(config.seed + 3)  # the same ε for every layer and rerun
                scores[f"reconstruction/layer{i}"] = float(model.reconstruction_nll(x).mean())
    finally:
        model.representation_layer = kept
    return scores


#: the value of a metric option ``code_groups`` that means "the latent groups of the run's
#: grouped regularizer (pc, grouped_tc) or L^p-nested prior, or none" — PDisVAE §4.1 scores
#: a grouped model on its own groups and searches groupings for the others
CODE_GROUPS_FROM_RUN = "regularizer"
#: metric options that take latent groups (``partial_disentanglement``'s ``code_groups``,
#: ``grouped_mig``'s ``groups``) and so accept :data:`CODE_GROUPS_FROM_RUN`
GROUP_OPTIONS = ("code_groups", "groups")


def run_latent_groups(config, latent_dim: int) -> list[list[int]] | None:
    """The latent groups a run's model or objective defines, as dim lists, else None: those of
    the first regularizer with latent groups (``pc``, ``grouped_tc``), else those of an
    L^p-nested prior with one level of groups (ISA-VAE's subspaces, Stühmer et al. 2020)."""
    for entry in config.regularizers:
        reg = regularizer(entry.name, **entry.options)
        if hasattr(reg, "group_lists"):
            return reg.group_lists(latent_dim)
    prior = config.model.options.get("prior")
    if isinstance(prior, dict) and isinstance(prior.get("lp_nested"), dict):
        groups = prior["lp_nested"].get("groups")
        if isinstance(groups, list) and all(isinstance(g, list) and len(g) == 2 and isinstance(g[1], int) for g in groups):
            sizes = [g[1] for g in groups]
            if sum(sizes) == latent_dim:
                return normalize_groups(sizes, latent_dim)
    return None


def _metric_options(evaluation: Evaluation, config, latent_dim: int) -> dict[str, dict[str, Any]]:
    options = {}
    for metric, opts in (evaluation.options or {}).items():
        opts = dict(opts)
        for key in GROUP_OPTIONS:
            if opts.get(key) == CODE_GROUPS_FROM_RUN:
                opts[key] = run_latent_groups(config, latent_dim)
        options[metric] = opts
    return options


def _test_dataset(config, evaluation: Evaluation):
    """The held-out data set of ``evaluate.test_data`` (the run's data with those options)."""
    options = {**config.data.options, **evaluation.test_data}
    try:
        return get_dataset(config.data.name, **options)
    except (TypeError, ValueError) as exc:
        raise UserError(f"sweep key 'evaluate.test_data' ({config.data.name}, {options}): {exc}") from None


def evaluate_trial(run_dir: str | Path, evaluation: Evaluation) -> dict[str, Any]:
    """Metrics and Gaussian TC of a trained run, written to ``sweep_evaluation.json``.

    Metrics: :func:`pyrodisent.metrics.evaluate_metrics` on the posterior mean, with the run's seed
    as ``random_state`` and ``evaluate.options`` as per-metric options. ``gaussian_tc``: TC_mean and
    TC_sample (RTC-VAE: Cheng et al. 2020, §6, Prop. 1) on ``size`` held-out points drawn with
    ``torch.Generator`` seeded by the run seed. ``elbo_terms``: the reconstruction error, KL and
    Monte-Carlo TC (Yang et al. 2020, Fig. 2, App. D; :func:`pyrodisent.diagnostics.elbo_terms`)
    on ``size`` held-out points, as ``eval.<term>`` columns. ``dataset_tc``: the TC of the aggregate
    posterior of ``size`` points as one mixture (:func:`pyrodisent.diagnostics.dataset_total_correlation`)
    and, for a run with latent groups (:func:`run_latent_groups`), its between-group and within-group
    parts, as ``eval.dataset_tc``, ``eval.dataset_tc_joint``, ``eval.dataset_tc_within``. ``layers`` (DeVAE): the metrics of each listed
    layer's mean representation as ``<score>/layer<i>``, and its reconstruction −log p(x|z_i)
    averaged over the held-out points as ``reconstruction/layer<i>`` (the DeVAE paper, an anonymous
    ICLR submission, Tables 2-4). ``test_data``: the metrics run on the run's data set rebuilt with
    these options (a held-out draw) instead of the training set. A metric option
    ``code_groups: regularizer`` (``groups: regularizer`` for grouped MIG) becomes the run's latent groups (:func:`run_latent_groups`).
    """
    run_dir = Path(run_dir)
    if not (evaluation.metrics or evaluation.gaussian_tc or evaluation.elbo_terms or evaluation.dataset_tc):
        return {}
    model, dataset, config = load_run(run_dir)
    out: dict[str, Any] = {}

    def heldout(gen):
        n = min(len(dataset), evaluation.size)
        index = torch.randperm(len(dataset), generator=gen)[:n]
        return FactorDataset.batch_to_float(dataset.images[index])

    with torch.no_grad():
        if evaluation.metrics:
            scored = _test_dataset(config, evaluation) if evaluation.test_data else dataset
            out["metrics"] = evaluate_metrics(
                model, scored, list(evaluation.metrics), random_state=config.seed, fast=evaluation.fast,
                options=_metric_options(evaluation, config, model.latent_dim) or None,
            )
        if evaluation.layers:
            out.setdefault("metrics", {}).update(_per_layer_scores(model, dataset, config, evaluation, heldout))
        if evaluation.gaussian_tc:
            gen = torch.Generator().manual_seed(config.seed + 2)
            out["gaussian_tc"] = gaussian_tc_diagnostics(model, heldout(gen), gen)
        if evaluation.elbo_terms:
            gen = torch.Generator().manual_seed(config.seed + 3)
            out["elbo_terms"] = elbo_terms(model, heldout(gen), gen)
        if evaluation.dataset_tc:
            gen = torch.Generator().manual_seed(config.seed + 4)
            groups = run_latent_groups(config, model.latent_dim)
            out["dataset_tc"] = dataset_total_correlation(model, heldout(gen), gen, groups=groups)
    write_json_atomic(run_dir / EVALUATION_NAME, _plain(out))
    return out


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


# --------------------------------------------------------------- executors
class SerialExecutor:
    """Runs trials one at a time in this process (``--no-ray``; debugging, plugins
    registered at run time)."""

    def __init__(self):
        self._queue: dict[int, tuple] = {}
        self._next = 0

    def capacity(self, spec: SweepSpec) -> int:
        return 1

    def submit(self, args: tuple, spec: SweepSpec) -> int:
        self._next += 1
        self._queue[self._next] = args
        return self._next

    def wait_one(self, handles: list) -> tuple[Any, dict[str, Any]]:
        handle = handles[0]
        return handle, execute_trial(*self._queue.pop(handle))

    def cancel(self, handles: list) -> None:
        for h in handles:
            self._queue.pop(h, None)

    def close(self) -> None:
        pass


class RayExecutor:
    """Ray tasks; starts Ray on this machine unless ``address`` names a running cluster."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None):
        ray = import_ray()
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, log_to_driver=False)
                self.started = True
        self._remote = ray.remote(execute_trial)

    def capacity(self, spec: SweepSpec) -> int:
        resources = self.ray.cluster_resources()
        slots = int(resources.get("CPU", 1) // spec.resources.num_cpus) if spec.resources.num_cpus else 1
        if spec.resources.num_gpus:
            gpus = resources.get("GPU", 0)
            if gpus < spec.resources.num_gpus:
                raise SweepError(
                    f"sweep key 'resources.num_gpus' is {spec.resources.num_gpus} but the Ray cluster has "
                    f"{gpus:g} GPUs; lower it (0 runs on CPUs) or connect to a cluster with GPUs (--address)"
                )
            slots = min(slots, int(gpus // spec.resources.num_gpus))
        if slots < 1:
            raise SweepError(
                f"sweep key 'resources.num_cpus' is {spec.resources.num_cpus} but the Ray cluster has "
                f"{resources.get('CPU', 0):g} CPUs"
            )
        return slots

    def submit(self, args: tuple, spec: SweepSpec):
        options: dict[str, Any] = {
            "num_cpus": spec.resources.num_cpus,
            "num_gpus": spec.resources.num_gpus,
            "max_retries": 0,  # retries are the driver's, so every attempt is recorded
            "name": f"trial-{args[1]}",
        }
        if spec.resources.memory_gb:
            options["memory"] = int(spec.resources.memory_gb * 1024**3)
        return self._remote.options(**options).remote(*args)

    def wait_one(self, handles: list) -> tuple[Any, dict[str, Any]]:
        (done,), _ = self.ray.wait(handles, num_returns=1)
        try:
            return done, self.ray.get(done)
        except Exception as exc:  # the worker died: killed, out of memory, node lost
            message = str(exc).strip().splitlines()
            return done, {
                "ok": False,
                "error": f"{type(exc).__name__}: {' '.join(message[:3])}"[:2000],
                "traceback": str(exc),
                "retryable": True,
            }

    def cancel(self, handles: list) -> None:
        for h in handles:
            try:
                self.ray.cancel(h, force=True)
            except Exception:
                pass

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


# ------------------------------------------------------------------ driver
def run_sweep(
    spec: SweepSpec,
    out_dir: str | Path,
    address: str | None = None,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    use_ray: bool = True,
    log: Callable[[str], None] | None = print,
    results_every_s: float = 30.0,
) -> dict[str, Any]:
    """Run every unfinished trial of ``spec`` into ``out_dir``; returns counts by state.

    ``num_cpus``/``num_gpus`` size a Ray started here (default: all of this machine).
    """
    log = log or (lambda message: None)
    if use_ray:
        import_ray()  # before anything is written: without Ray, say how to install it
    trials = spec.trials()
    check_evaluation(spec.evaluate)
    sweep = SweepDir(out_dir)
    with sweep.lock():
        return _run_locked(spec, sweep, trials, address, num_cpus, num_gpus, use_ray, log, results_every_s)


def reevaluate_sweep(spec: SweepSpec, out_dir: str | Path, log: Callable[[str], None] | None = print) -> int:
    """Score every finished trial of ``spec`` again with its current ``evaluate`` section (in this
    process; no training) and rewrite results.csv; returns the number of trials scored.

    For an evaluation added or changed after the trials were trained: the trial ids do not
    depend on ``evaluate``, so the trained models are kept.
    """
    log = log or (lambda message: None)
    trials = spec.trials()
    check_evaluation(spec.evaluate)
    sweep = SweepDir(out_dir)
    with sweep.lock():
        records = sweep.prepare(spec, trials)
        finished = [t for t in trials if records[t.trial_id].get("state") == "finished"]
        log(f"sweep {spec.name}: re-scoring {len(finished)} finished of {len(trials)} trials")
        for i, trial in enumerate(finished, 1):
            evaluate_trial(sweep.trial_dir(trial.trial_id), spec.evaluate)
            log(f"[{i}/{len(finished)}] scored {_label(trial)}")
        path = sweep.write_results()
    log(f"sweep {spec.name}: table: {path}")
    return len(finished)


def _run_locked(spec, sweep, trials, address, num_cpus, num_gpus, use_ray, log, results_every_s):
    records = sweep.prepare(spec, trials)
    todo = [t for t in trials if records[t.trial_id].get("state") != "finished"]
    skipped = len(trials) - len(todo)
    log(f"sweep {spec.name}: {len(trials)} trials, {skipped} already finished, {len(todo)} to run -> {sweep.root}")
    counts = {"finished": skipped, "failed": 0, "total": len(trials), "ran": 0}
    if todo:
        executor = RayExecutor(address, num_cpus, num_gpus) if use_ray else SerialExecutor()
        try:
            _schedule(spec, sweep, todo, records, executor, counts, log, results_every_s)
        finally:
            executor.close()
    path = sweep.write_results()
    log(f"sweep {spec.name}: {counts['finished']} finished, {counts['failed']} failed of "
        f"{counts['total']}; table: {path}")
    return counts


def _schedule(spec, sweep, todo, records, executor, counts, log, results_every_s) -> None:
    window = spec.max_concurrent_trials or max(2, 2 * executor.capacity(spec))
    threads = max(1, int(spec.resources.num_cpus))
    evaluation = asdict(spec.evaluate)
    queue = list(todo)
    queue.reverse()  # pop() from the end keeps trial order
    in_flight: dict[Any, tuple[Trial, int]] = {}
    tries: dict[str, int] = {}
    last_table = time.time()
    done = 0
    try:
        while queue or in_flight:
            while queue and len(in_flight) < window:
                trial = queue.pop()
                records[trial.trial_id] = sweep.describe(trial, records[trial.trial_id])
                attempt = int(records[trial.trial_id].get("attempts") or 0) + 1
                records[trial.trial_id]["attempts"] = attempt
                tries[trial.trial_id] = tries.get(trial.trial_id, 0) + 1
                args = (str(sweep.root), trial.trial_id, trial.config, evaluation, attempt, threads)
                in_flight[executor.submit(args, spec)] = (trial, attempt)
            handle, result = executor.wait_one(list(in_flight))
            trial, attempt = in_flight.pop(handle)
            done += 1
            label = _label(trial)
            if result.get("ok"):
                records[trial.trial_id] = sweep.update(
                    trial.trial_id, state="finished", attempts=attempt, error=None, ended_at=time.time(),
                    trial_time_s=result.get("trial_time_s"), host=result.get("host"),
                )
                counts["finished"] += 1
                counts["ran"] += 1
                log(f"[{counts['finished'] + counts['failed']}/{counts['total']}] finished {label} "
                    f"in {result.get('trial_time_s', 0):.1f} s")
            else:
                retry = result.get("retryable") and tries[trial.trial_id] < spec.max_attempts
                records[trial.trial_id] = sweep.update(
                    trial.trial_id, state="pending" if retry else "failed", attempts=attempt,
                    error=result.get("error"), traceback=result.get("traceback"), ended_at=time.time(),
                    trial_time_s=result.get("trial_time_s"),
                )
                if retry:
                    queue.append(trial)
                    log(f"retrying {label} (attempt {attempt} failed: {result.get('error')})")
                else:
                    counts["failed"] += 1
                    counts["ran"] += 1
                    why = "" if result.get("retryable") else " (a config/user error: not retried)"
                    log(f"[{counts['finished'] + counts['failed']}/{counts['total']}] FAILED {label}{why}: "
                        f"{result.get('error')}")
            if time.time() - last_table > results_every_s:
                sweep.write_results()
                last_table = time.time()
    except KeyboardInterrupt:
        executor.cancel(list(in_flight))
        for trial, attempt in in_flight.values():
            sweep.update(trial.trial_id, state="pending", error="interrupted (the sweep was stopped)")
        sweep.write_results()
        log("sweep interrupted; run the same command again to finish it (finished trials are kept, "
            "interrupted ones resume from their checkpoints)")
        raise


def _label(trial: Trial) -> str:
    params = ", ".join(f"{k}={v}" for k, v in trial.params.items() if not isinstance(v, (dict, list)))
    return f"{trial.trial_id} ({params})" if params else trial.trial_id
