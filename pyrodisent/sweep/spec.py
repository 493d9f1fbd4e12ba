"""Sweep files: a base run config plus axes, expanded into trials.

A sweep file is a YAML mapping::

    name: stcvae-capacity-small
    base: {seed: 0, model: {...}, data: {...}, regularizers: [...], train: {...}}
    # or  base: ../quickstart.yaml   (a run config file, relative to the sweep file)
    set: {train.steps: 300}                 # fixed changes to the base (no column), as --set
    # or  extends: other-sweep.yaml  (every key of that sweep file, its ``set`` merged under this
    #     file's, the other keys replaced where this file gives them; ``name`` is never inherited)
    grid:                                   # cartesian product, first axis slowest
      - {key: model.hidden_width, name: capacity, values: [32, 128]}
      - zip:                                # one axis whose points set several keys together
          - {key: model.latent_dim, values: [6, 6, 8]}
          - {key: regularizers.0.grouping_factor, name: grouping_factor, values: [1, 3, 4]}
      - {name: strength, values: [2, 10]}   # a variable only: used as "${strength}" in base
    random:                                 # random search (optional)
      samples: 4                            # draws per grid point
      seed: 0
      axes:
        - {key: train.optimizer.lr, loguniform: [1.0e-4, 1.0e-2]}
        - {key: regularizers.0.beta, choice: [1, 2, 4]}
    seeds: 3                                # or a list [0, 1, 2]; sets the config key ``seed``
    resources: {num_cpus: 1, num_gpus: 0.25, memory_gb: 2}
    max_attempts: 3                         # per invocation, for crashes (not config errors)
    evaluate: {metrics: [mig], fast: true, gaussian_tc: true, options: {mig: {...}}}

``grid`` may also be a mapping ``{key: [values]}`` (one axis per key, in order). An axis
has ``key`` (a dotted config path, list items by index, as ``--set``), ``name`` (its column
in ``results.csv`` and its variable; default: the key) and ``values``. A string value
``"${name}"`` anywhere in the config is replaced by that axis' value (a typed value when the
string is exactly the placeholder), so one axis can drive several keys — e.g. the TC weight
of FactorVAE and the η = max(10, β) of RTC-VAE's variance penalty (Cheng et al. 2020, Table 1).

Trials are ordered grid (first axis slowest) × random sample × seed. Random sample s is
drawn from ``numpy.random.default_rng([random.seed, s])``: the same draw at every grid
point, and raising ``samples`` keeps the earlier draws. A trial's id is a hash of its
resolved config, so editing the sweep keeps the results of trials whose config did not
change.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pyrodisent.engine.config import ConfigError, load_config_file, parse_config
from pyrodisent.engine.config import set_path as set_config_path
from pyrodisent.errors import UserError
from pyrodisent.sweep.paper import check_paper
from pyrodisent.validation import check_int, check_number

SAMPLERS = ("choice", "uniform", "loguniform", "randint")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")
_TOP_KEYS = {"name", "description", "base", "set", "grid", "random", "seeds", "resources", "max_attempts",
             "evaluate", "max_concurrent_trials", "paper"}
_NOT_INHERITED = ("extends", "name", "set")


class SweepError(UserError):
    """A sweep file that cannot run; the message names the key and what is allowed."""


@dataclass
class Axis:
    """One value per point for each ``(key, name)``; ``key`` None = a variable only."""

    keys: list[str | None]
    names: list[str]
    values: list[list[Any]]  # values[j] = the value list of sub-axis j

    def __len__(self) -> int:
        return len(self.values[0])

    def point(self, i: int) -> list[tuple[str | None, str, Any]]:
        return [(k, n, copy.deepcopy(v[i])) for k, n, v in zip(self.keys, self.names, self.values)]


@dataclass
class RandomAxis:
    key: str | None
    name: str
    sampler: str
    argument: Any

    def draw(self, rng: np.random.Generator) -> Any:
        a = self.argument
        if self.sampler == "choice":
            return copy.deepcopy(a[int(rng.integers(len(a)))])
        if self.sampler == "uniform":
            return float(rng.uniform(a[0], a[1]))
        if self.sampler == "loguniform":
            return float(math.exp(rng.uniform(math.log(a[0]), math.log(a[1]))))
        return int(rng.integers(a[0], a[1] + 1))  # randint: both ends included


@dataclass
class Resources:
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_gb: float | None = None


@dataclass
class Evaluation:
    metrics: list[str] = field(default_factory=list)
    fast: bool = True
    gaussian_tc: bool = False  # TC_mean / TC_sample (Cheng et al. 2020, §6) on held-out points
    # reconstruction, KL and Monte-Carlo TC on the held-out points (Yang et al. 2020, Fig. 2, App. D)
    elbo_terms: bool = False
    # TC (and between-group TC) of the aggregate posterior of all `size` points at once
    # (pyrodisent.diagnostics.dataset_total_correlation): exact mixtures, no minibatch bias
    dataset_tc: bool = False
    size: int = 5000  # held-out points for gaussian_tc, elbo_terms and dataset_tc
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-metric keyword arguments
    # DeVAE: score each listed layer's representation and reconstruction (DeVAE paper, Table 2)
    layers: list[int] = field(default_factory=list)
    # data options that make a held-out set the metrics run on (e.g. {seed: 1}: a fresh draw
    # of a synthetic set with the same mixing; PDisVAE §4.1 "PC on the test set")
    test_data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trial:
    trial_id: str
    index: int
    params: dict[str, Any]  # column name -> value, in axis order
    config: dict[str, Any]  # the resolved run config


@dataclass
class SweepSpec:
    name: str
    base: dict[str, Any]
    grid: list[Axis] = field(default_factory=list)
    random_axes: list[RandomAxis] = field(default_factory=list)
    samples: int = 1
    random_seed: int = 0
    seeds: list[int] | None = None
    resources: Resources = field(default_factory=Resources)
    max_attempts: int = 3
    evaluate: Evaluation = field(default_factory=Evaluation)
    max_concurrent_trials: int | None = None
    description: str = ""
    # the paper's numbers and claims, printed beside ours by `pyrodisent report`
    # (pyrodisent.sweep.paper); kept in the sweep file, not in code
    paper: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)  # the file as read (copied into the sweep dir)

    def trials(self, validate: bool = True) -> list[Trial]:
        return expand(self, validate=validate)


# ------------------------------------------------------------------- reading
def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (module docstring)."""
    path = Path(path)
    return parse_sweep(_read_sweep_file(path), base_dir=path.parent, default_name=path.stem)


def _read_sweep_file(path: Path, chain: tuple[Path, ...] = ()) -> Any:
    """The sweep file's mapping with its ``extends:`` chain resolved (module docstring): the parent's
    keys, its ``set`` under this file's, and a file-path ``base`` kept relative to the parent."""
    if not path.is_file():
        where = f" (named by 'extends' in {str(chain[-1])!r})" if chain else ""
        raise SweepError(f"sweep file {str(path)!r} does not exist{where}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SweepError(f"sweep file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or "extends" not in data:
        return data
    parent_path = data["extends"]
    if not isinstance(parent_path, str) or not parent_path:
        raise SweepError(f"sweep key 'extends' in {str(path)!r}: the path of another sweep file, got {parent_path!r}")
    parent_path = (path.parent / parent_path).resolve()
    if parent_path in chain or parent_path == path.resolve():
        raise SweepError(f"sweep key 'extends' in {str(path)!r}: {str(parent_path)!r} extends itself in a cycle")
    parent = _read_sweep_file(parent_path, (*chain, path.resolve()))
    if not isinstance(parent, dict):
        raise SweepError(f"sweep file {str(parent_path)!r} (named by 'extends' in {str(path)!r}) must hold a mapping")
    merged = {key: value for key, value in parent.items() if key not in _NOT_INHERITED}
    if isinstance(merged.get("base"), str) and not Path(merged["base"]).is_absolute():
        merged["base"] = str(parent_path.parent / merged["base"])
    merged.update({key: value for key, value in data.items() if key != "extends"})
    fixed = [part for part in (parent.get("set"), data.get("set")) if part]
    if fixed:
        if not all(isinstance(part, dict) for part in fixed):
            raise SweepError(f"sweep key 'set': a mapping {{config.path: value}}, in {str(path)!r} and the file it extends")
        merged["set"] = {key: value for part in fixed for key, value in part.items()}
    return merged


def parse_sweep(data: Any, base_dir: str | Path = ".", default_name: str = "sweep") -> SweepSpec:
    if not isinstance(data, dict):
        raise SweepError(f"a sweep file must hold a mapping of keys, got {type(data).__name__}")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise SweepError(f"unknown sweep key(s) {unknown}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    if "base" not in data:
        raise SweepError("sweep key 'base' is missing: a run config mapping or the path of a config file")
    base = _base(data["base"], Path(base_dir))
    fixed = data.get("set") or {}
    if not isinstance(fixed, dict):
        raise SweepError(f"sweep key 'set': a mapping {{config.path: value}}, got {fixed!r}")
    for key, value in fixed.items():
        set_path(base, _check_key(key, f"set.{key}"), copy.deepcopy(value))
    name = data.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise SweepError(f"sweep key 'name': letters, digits, '.', '_' or '-' only, got {name!r}")
    grid = _grid(data.get("grid"))
    random_axes, samples, random_seed = _random(data.get("random"))
    seeds = _seeds(data.get("seeds"))
    spec = SweepSpec(
        name=name,
        base=base,
        grid=grid,
        random_axes=random_axes,
        samples=samples,
        random_seed=random_seed,
        seeds=seeds,
        resources=_resources(data.get("resources")),
        max_attempts=check_int("sweep key 'max_attempts':", data.get("max_attempts", 3), 1, error=SweepError),
        evaluate=_evaluation(data.get("evaluate")),
        max_concurrent_trials=(
            None if data.get("max_concurrent_trials") is None
            else check_int("sweep key 'max_concurrent_trials':", data["max_concurrent_trials"], 1, error=SweepError)
        ),
        description=str(data.get("description", "")),
        paper=_paper(data.get("paper")),
        source=copy.deepcopy({**data, "base": base}),
    )
    names = [n for a in spec.grid for n in a.names] + [a.name for a in spec.random_axes]
    if spec.seeds is not None:
        names.append("seed")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SweepError(f"axis name(s) {dup} used twice; give each axis its own 'name'")
    return spec


def _base(value: Any, base_dir: Path) -> dict[str, Any]:
    if isinstance(value, str):
        path = Path(value)
        if not path.is_absolute():
            path = base_dir / path
        return load_config_file(path)
    if not isinstance(value, dict):
        raise SweepError(f"sweep key 'base': a run config mapping or a file path, got {value!r}")
    return copy.deepcopy(value)


def _check_key(key: Any, where: str) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise SweepError(f"sweep key {where + '.key'!r}: a dotted config path like model.latent_dim, got {key!r}")
    return key


def _check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name):
        raise SweepError(f"sweep key {where + '.name'!r}: a column name (letters, digits, '_', '.', '-'), got {name!r}")
    return name


def _simple_axis(item: Any, where: str) -> tuple[str | None, str, list]:
    if not isinstance(item, dict):
        raise SweepError(f"sweep key {where!r}: an axis is a mapping {{key, name, values}}, got {item!r}")
    unknown = sorted(set(item) - {"key", "name", "values"})
    if unknown:
        raise SweepError(f"sweep key {where!r}: unknown axis key(s) {unknown}; allowed: key, name, values (or zip)")
    key = _check_key(item.get("key"), where)
    if key is None and "name" not in item:
        raise SweepError(f"sweep key {where!r}: an axis needs a 'key' (config path) or a 'name' (a variable)")
    name = _check_name(item.get("name", key), where)
    values = item.get("values")
    if not isinstance(values, list) or not values:
        raise SweepError(f"sweep key {where + '.values'!r}: a non-empty list, got {values!r}")
    return key, name, values


def _grid(value: Any) -> list[Axis]:
    if value is None:
        return []
    if isinstance(value, dict):
        value = [{"key": k, "values": v} for k, v in value.items()]
    if not isinstance(value, list):
        raise SweepError(f"sweep key 'grid': a list of axes or a mapping {{key: [values]}}, got {value!r}")
    axes = []
    for i, item in enumerate(value):
        where = f"grid.{i}"
        if isinstance(item, dict) and "zip" in item:
            if set(item) != {"zip"}:
                raise SweepError(f"sweep key {where!r}: a zip axis holds only 'zip: [axis, ...]'")
            subs = item["zip"]
            if not isinstance(subs, list) or not subs:
                raise SweepError(f"sweep key {where + '.zip'!r}: a non-empty list of axes")
            parts = [_simple_axis(s, f"{where}.zip.{j}") for j, s in enumerate(subs)]
            lengths = {len(p[2]) for p in parts}
            if len(lengths) != 1:
                raise SweepError(
                    f"sweep key {where + '.zip'!r}: zipped axes need value lists of one length, got "
                    f"{[len(p[2]) for p in parts]}"
                )
            axes.append(Axis([p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts]))
        else:
            key, name, values = _simple_axis(item, where)
            axes.append(Axis([key], [name], [values]))
    return axes


def _random(value: Any) -> tuple[list[RandomAxis], int, int]:
    if value is None:
        return [], 1, 0
    if not isinstance(value, dict):
        raise SweepError(f"sweep key 'random': a mapping {{samples, seed, axes}}, got {value!r}")
    unknown = sorted(set(value) - {"samples", "seed", "axes"})
    if unknown:
        raise SweepError(f"unknown key(s) {unknown} in 'random'; allowed: samples, seed, axes")
    samples = check_int("sweep key 'random.samples':", value.get("samples", 1), 1, error=SweepError)
    seed = check_int("sweep key 'random.seed':", value.get("seed", 0), 0, error=SweepError)
    raw = value.get("axes")
    if not isinstance(raw, list) or not raw:
        raise SweepError("sweep key 'random.axes': a non-empty list of {key, name, <sampler>: ...}")
    axes = []
    for i, item in enumerate(raw):
        where = f"random.axes.{i}"
        if not isinstance(item, dict):
            raise SweepError(f"sweep key {where!r}: a mapping, got {item!r}")
        samplers = [s for s in SAMPLERS if s in item]
        unknown = sorted(set(item) - {"key", "name", *SAMPLERS})
        if unknown or len(samplers) != 1:
            raise SweepError(
                f"sweep key {where!r}: needs 'key' and/or 'name' and exactly one sampler of "
                f"{', '.join(SAMPLERS)}; got keys {sorted(item)}"
            )
        key = _check_key(item.get("key"), where)
        if key is None and "name" not in item:
            raise SweepError(f"sweep key {where!r}: a random axis needs a 'key' or a 'name'")
        name = _check_name(item.get("name", key), where)
        sampler, arg = samplers[0], item[samplers[0]]
        if sampler == "choice":
            if not isinstance(arg, list) or not arg:
                raise SweepError(f"sweep key {where + '.choice'!r}: a non-empty list, got {arg!r}")
        else:
            ok = (
                isinstance(arg, list) and len(arg) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in arg)
                and arg[0] <= arg[1]
            )
            if sampler == "loguniform":
                ok = ok and arg[0] > 0
            if sampler == "randint":
                ok = ok and all(isinstance(v, int) for v in arg)
            if not ok:
                allowed = {"uniform": "[low, high] numbers", "loguniform": "[low, high] with 0 < low <= high",
                           "randint": "[low, high] integers, both included"}[sampler]
                raise SweepError(f"sweep key {where + '.' + sampler!r}: {allowed}, got {arg!r}")
        axes.append(RandomAxis(key, name, sampler, arg))
    return axes, samples, seed


def _seeds(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SweepError(f"sweep key 'seeds': a count >= 1 or a list of seeds, got {value}")
        return list(range(value))
    if (
        isinstance(value, list) and value
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
        and len(set(value)) == len(value)
    ):
        return list(value)
    raise SweepError(f"sweep key 'seeds': a count >= 1 or a list of distinct integers >= 0, got {value!r}")


def _resources(value: Any) -> Resources:
    if value is None:
        return Resources()
    if not isinstance(value, dict):
        raise SweepError(f"sweep key 'resources': a mapping {{num_cpus, num_gpus, memory_gb}}, got {value!r}")
    unknown = sorted(set(value) - {"num_cpus", "num_gpus", "memory_gb"})
    if unknown:
        raise SweepError(f"unknown key(s) {unknown} in 'resources'; allowed: num_cpus, num_gpus, memory_gb")
    res = Resources()
    for key, minimum, exclusive in (("num_cpus", 0.0, True), ("num_gpus", 0.0, False), ("memory_gb", 0.0, True)):
        if key in value and value[key] is not None:
            name = f"sweep key 'resources.{key}':"
            setattr(res, key, check_number(name, value[key], minimum, exclusive_minimum=exclusive, error=SweepError))
    if res.num_gpus > 1 and res.num_gpus != int(res.num_gpus):
        raise SweepError(
            f"sweep key 'resources.num_gpus': a fraction <= 1 (several trials per GPU) or a whole number, "
            f"got {res.num_gpus}"
        )
    return res


def _evaluation(value: Any) -> Evaluation:
    if value is None:
        return Evaluation()
    if not isinstance(value, dict):
        raise SweepError(f"sweep key 'evaluate': a mapping {{metrics, fast, gaussian_tc, size}}, got {value!r}")
    allowed = ("metrics", "fast", "gaussian_tc", "elbo_terms", "dataset_tc", "size", "options", "layers", "test_data")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise SweepError(f"unknown key(s) {unknown} in 'evaluate'; allowed: {', '.join(allowed)}")
    test_data = value.get("test_data") or {}
    if not isinstance(test_data, dict):
        raise SweepError(
            f"sweep key 'evaluate.test_data': a mapping of data options for the held-out set "
            f"(e.g. {{seed: 1}}), got {test_data!r}"
        )
    layers = value.get("layers") or []
    if not isinstance(layers, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in layers
    ):
        raise SweepError(f"sweep key 'evaluate.layers': a list of DeVAE layer indices >= 0, got {layers!r}")
    options = value.get("options") or {}
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise SweepError(f"sweep key 'evaluate.options': a mapping {{metric: {{option: value}}}}, got {options!r}")
    metrics = value.get("metrics") or []
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise SweepError(f"sweep key 'evaluate.metrics': a list of metric names, got {metrics!r}")
    for key in ("fast", "gaussian_tc", "elbo_terms", "dataset_tc"):
        if key in value and not isinstance(value[key], bool):
            raise SweepError(f"sweep key 'evaluate.{key}': true or false, got {value[key]!r}")
    return Evaluation(
        metrics=list(metrics),
        fast=value.get("fast", True),
        gaussian_tc=value.get("gaussian_tc", False),
        elbo_terms=value.get("elbo_terms", False),
        dataset_tc=value.get("dataset_tc", False),
        size=check_int("sweep key 'evaluate.size':", value.get("size", 5000), 2, error=SweepError),
        options=copy.deepcopy(options),
        layers=list(layers),
        test_data=copy.deepcopy(test_data),
    )


def _paper(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        return check_paper(value)
    except ValueError as exc:
        raise SweepError(f"sweep key 'paper': {exc}") from None


# ----------------------------------------------------------------- expansion
def set_path(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data[a][b]...`` for ``key`` = "a.b..." with the rule of ``pyrodisent train --set``
    (:func:`pyrodisent.engine.config.set_path`); errors as :class:`SweepError`."""
    try:
        set_config_path(data, key, value, f"axis key {key!r}")
    except ConfigError as exc:
        raise SweepError(str(exc)) from None


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    """Replace ``"${name}"`` placeholders (typed when the string is only the placeholder)."""
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, str) and "${" in value:
        def lookup(name):
            if name not in variables:
                raise SweepError(
                    f"placeholder '${{{name}}}' names no axis; defined: {', '.join(sorted(variables)) or 'none'}"
                )
            return variables[name]

        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return copy.deepcopy(lookup(whole.group(1)))
        return _PLACEHOLDER.sub(lambda m: str(lookup(m.group(1))), value)
    return value


def trial_id(config: dict[str, Any]) -> str:
    """A stable id: the first 12 hex digits of the SHA-1 of the canonical JSON of the config."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(canonical.encode()).hexdigest()[:12]


def expand(spec: SweepSpec, validate: bool = True) -> list[Trial]:
    """Every trial of the sweep: grid × random samples × seeds, each a resolved config.

    With ``validate`` each distinct config goes through :func:`pyrodisent.engine.parse_config`
    so a misspelt key fails before anything runs (option values a factory rejects only when
    it builds, e.g. a dataset option out of range, fail inside their trial).
    """
    grid_points = list(itertools.product(*[range(len(a)) for a in spec.grid]))
    draws = []
    for s in range(spec.samples if spec.random_axes else 1):
        rng = np.random.default_rng([spec.random_seed, s])
        draws.append([(a.key, a.name, a.draw(rng)) for a in spec.random_axes])
    seeds = spec.seeds if spec.seeds is not None else [None]
    trials: list[Trial] = []
    seen: dict[str, int] = {}
    for point in grid_points:
        assigned = [entry for axis, i in zip(spec.grid, point) for entry in axis.point(i)]
        for draw in draws:
            for seed in seeds:
                entries = assigned + draw + ([("seed", "seed", seed)] if seed is not None else [])
                config = copy.deepcopy(spec.base)
                params: dict[str, Any] = {}
                for key, name, value in entries:
                    if key is not None:
                        set_path(config, key, value)
                    params[name] = value
                try:
                    config = substitute(config, params)
                except SweepError as exc:
                    raise SweepError(f"trial {len(trials)} ({_describe(params)}): {exc}") from None
                tid = trial_id(config)
                if tid in seen:
                    raise SweepError(
                        f"trials {seen[tid]} and {len(trials)} ({_describe(params)}) have the same config; "
                        f"remove the duplicate axis values"
                    )
                seen[tid] = len(trials)
                trials.append(Trial(tid, len(trials), params, config))
    if validate:
        checked: set[str] = set()
        for trial in trials:
            shape = trial_id({k: v for k, v in trial.config.items() if k != "seed"})
            if shape in checked:  # the seed alone does not change what validation sees
                continue
            checked.add(shape)
            try:
                parse_config(copy.deepcopy(trial.config))
            except ConfigError as exc:
                raise SweepError(f"trial {trial.index} ({_describe(trial.params)}): {exc}") from None
    return trials


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in params.items()) or "the base config"
