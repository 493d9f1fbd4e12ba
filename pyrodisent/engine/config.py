"""Run configuration: typed, validated before anything runs.

A config is a YAML mapping::

    seed: 0
    device: auto                 # auto | cpu | cuda | cuda:N
    model: {name: vae, encoder: conv, latent_dim: 10, likelihood: bernoulli}
    data: {name: generated_dsprites, options: {orientations: 8}}
    regularizers:
      - {name: tc, beta: 6}
    train: {steps: 3000, batch_size: 64, optimizer: {name: adam, lr: 0.001}}

Every key is checked: unknown keys, wrong types and out-of-range values raise
:class:`ConfigError` naming the key (as a dotted path) and what is allowed. Model, dataset
and regularizer options are checked against their factory's signature, and every
regularizer is constructed once so its own validation runs too.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pyrodisent.compiled import MODES as COMPILE_MODES
from pyrodisent.errors import UserError
from pyrodisent.plugin_manager import UnknownComponentError, get_component
from pyrodisent.precision import PRECISIONS
from pyrodisent.regularizer import regularizer
from pyrodisent.validation import check_int, check_number

OPTIMIZERS = ("adam", "adamw")


class ConfigError(UserError):
    """A config value that cannot run; the message names the key and the fix."""


@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0


@dataclass
class TrainConfig:
    steps: int = 3000
    batch_size: int = 64
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    num_particles: int = 1
    log_every: int = 50
    image_every: int = 500
    checkpoint_every: int = 500
    diagnostics_every: int = 0  # TC_mean / TC_sample on a held-out batch (0 = off)
    diagnostics_size: int = 5000
    metrics_every: int = 0  # periodic metrics during training (0 = off)
    metrics: list[str] = field(default_factory=list)
    compile: str = "off"  # off | networks (torch.compile the networks) | step (pyrodisent.compiled)
    compile_mode: str = "auto"  # for compile: step — auto | default | reduce-overhead | max-autotune | replay
    precision: str = "fp32"  # fp32 | bf16 (autocast for the networks only, pyrodisent.precision)


@dataclass
class ComponentConfig:
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunConfig:
    model: ComponentConfig
    data: ComponentConfig
    regularizers: list[ComponentConfig] = field(default_factory=list)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain YAML-able data (the inverse of :func:`parse_config`)."""
        return {
            "seed": self.seed,
            "device": self.device,
            "model": {"name": self.model.name, **self.model.options},
            "data": {"name": self.data.name, "options": dict(self.data.options)},
            "regularizers": [{"name": r.name, **r.options} for r in self.regularizers],
            "train": _plain(dataclasses.asdict(self.train)),
        }


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# ----------------------------------------------------------------------- reading
def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML; list items by index)."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. train.steps=100")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else None
        set_path(data, key.strip(), value, f"--set {key.strip()}")
    return data


def set_path(data: dict[str, Any], key: str, value: Any, label: str | None = None) -> None:
    """Set ``data[a][b]...`` for ``key`` = "a.b..." in place: list items by index, missing or
    null mappings created. The one path rule of ``--set`` and of sweep files; errors start
    with ``label`` (default: the key)."""
    label = label or repr(key)
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            try:
                index = int(part)
            except ValueError:
                raise ConfigError(
                    f"{label}: {'.'.join(parts[:depth])!r} is a list; use an index, "
                    "e.g. regularizers.0.beta"
                ) from None
            if not -len(node) <= index < len(node):
                raise ConfigError(f"{label}: index {index} out of range (the list has {len(node)} items)")
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        else:
            raise ConfigError(f"{label}: {'.'.join(parts[:depth])!r} is not a mapping or a list")


# ---------------------------------------------------------------------- checking
def _check_keys(section: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(repr(f'{where}.{k}' if where else k) for k in unknown)}; "
            f"allowed {('in ' + repr(where)) if where else 'at the top level'}: {', '.join(sorted(allowed))}"
        )


def _key(key: str) -> str:
    """How the checks of :mod:`pyrodisent.validation` name a config key."""
    return f"config key {key!r}:"


def _mapping(value, key: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"config key {key!r}: must be a mapping, got {value!r}")
    return value


def check_factory_options(factory: Callable, options: dict, where: str, reserved: tuple[str, ...] = ()) -> None:
    """Reject options that the factory does not accept, listing the ones it does."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = sig.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    accepted -= set(reserved)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(repr(f'{where}.{k}') for k in unknown)}; "
            f"{where} accepts: {', '.join(sorted(accepted)) or 'no options'}"
        )


def _component(section, where: str, kind: str, nested_options: bool, reserved=()) -> ComponentConfig:
    section = _mapping(section, where)
    if "name" not in section:
        raise ConfigError(f"config key {where + '.name'!r} is missing; it names the {kind[:-1]} to use")
    name = section["name"]
    if nested_options:
        _check_keys(section, {"name", "options"}, where)
        options = dict(_mapping(section.get("options"), f"{where}.options"))
    else:
        options = {k: v for k, v in section.items() if k != "name"}
    try:
        factory = get_component(kind, name)
    except UnknownComponentError as exc:
        raise ConfigError(f"config key {where + '.name'!r}: {exc}") from None
    check_factory_options(factory, options, where if not nested_options else f"{where}.options", reserved)
    return ComponentConfig(name=name, options=options)


def parse_config(data: dict[str, Any]) -> RunConfig:
    """Validate a raw config mapping and return the typed :class:`RunConfig`."""
    data = _mapping(data, "config")
    _check_keys(data, {"seed", "device", "model", "data", "regularizers", "train"}, "")
    for required in ("model", "data"):
        if required not in data:
            raise ConfigError(f"config key {required!r} is missing (see configs/quickstart.yaml)")
    seed = check_int(_key("seed"), data.get("seed", 0), 0, error=ConfigError)
    device = data.get("device", "auto")
    if not isinstance(device, str) or not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
        raise ConfigError(f"config key 'device': must be auto, cpu, cuda or cuda:N, got {device!r}")
    model = _component(data["model"], "model", "models", nested_options=False, reserved=("input_shape", "register_params"))
    dataset = _component(data["data"], "data", "datasets", nested_options=True)
    regs_raw = data.get("regularizers") or []
    if not isinstance(regs_raw, list):
        raise ConfigError("config key 'regularizers': must be a list of {name: ..., <params>}")
    regularizers = [
        _component(r, f"regularizers.{i}", "regularizers", nested_options=False) for i, r in enumerate(regs_raw)
    ]
    names = [r.name for r in regularizers]
    if len(set(names)) != len(names):
        raise ConfigError(f"config key 'regularizers': a regularizer is listed twice ({names}); merge them")
    _check_regularizer_params(regularizers)
    train = _train_config(_mapping(data.get("train"), "train"))
    return RunConfig(model=model, data=dataset, regularizers=regularizers, train=train, seed=seed, device=device)


def _check_regularizer_params(regularizers: list[ComponentConfig]) -> None:
    for i, reg in enumerate(regularizers):
        try:
            regularizer(reg.name, **reg.options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"config key 'regularizers.{i}' ({reg.name}): {exc}") from None


def _train_config(section: dict) -> TrainConfig:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    _check_keys(section, fields, "train")
    default = TrainConfig()

    def count(key: str, value, minimum: int) -> int:
        return check_int(_key(f"train.{key}"), section.get(key, value), minimum, error=ConfigError)

    t = TrainConfig(
        steps=count("steps", default.steps, 1),
        batch_size=count("batch_size", default.batch_size, 2),
        num_particles=count("num_particles", default.num_particles, 1),
        log_every=count("log_every", default.log_every, 1),
        image_every=count("image_every", default.image_every, 0),
        checkpoint_every=count("checkpoint_every", default.checkpoint_every, 1),
        diagnostics_every=count("diagnostics_every", 0, 0),
        diagnostics_size=count("diagnostics_size", default.diagnostics_size, 2),
        metrics_every=count("metrics_every", 0, 0),
        metrics=list(section.get("metrics") or []),
        compile=_compile_option(section.get("compile", "off")),
        compile_mode=_compile_mode_option(section.get("compile_mode", "auto")),
        precision=_precision_option(section.get("precision", "fp32")),
    )
    opt = _mapping(section.get("optimizer"), "train.optimizer")
    _check_keys(opt, {"name", "lr", "betas", "weight_decay"}, "train.optimizer")
    name = opt.get("name", "adam")
    if name not in OPTIMIZERS:
        raise ConfigError(f"config key 'train.optimizer.name': must be one of {OPTIMIZERS}, got {name!r}")
    betas = opt.get("betas", [0.9, 0.999])
    if not (isinstance(betas, (list, tuple)) and len(betas) == 2 and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
        raise ConfigError(f"config key 'train.optimizer.betas': must be two numbers in [0, 1), got {betas!r}")
    t.optimizer = OptimizerConfig(
        name=name,
        lr=check_number(_key("train.optimizer.lr"), opt.get("lr", 1e-3), 0, exclusive_minimum=True, error=ConfigError),
        betas=(float(betas[0]), float(betas[1])),
        weight_decay=check_number(_key("train.optimizer.weight_decay"), opt.get("weight_decay", 0.0), 0, error=ConfigError),
    )
    if t.metrics_every and not t.metrics:
        raise ConfigError("config key 'train.metrics': list the metrics to run when train.metrics_every > 0")
    return t


#: values of ``train.compile``: false/true are the older spellings of off/networks
COMPILE_OPTIONS = ("off", "networks", "step")


def _choice(key: str, value, allowed, meaning: str):
    """``value`` if it is one of ``allowed``, else an error naming the key, the choices and
    what they mean."""
    if value not in allowed:
        raise ConfigError(f"config key 'train.{key}': must be one of {tuple(allowed)} ({meaning}), got {value!r}")
    return value


def _compile_option(value) -> str:
    if value is None or isinstance(value, bool):  # the older spellings
        value = "networks" if value else "off"
    return _choice("compile", value, COMPILE_OPTIONS,
                   "step: the whole training step as one compiled program; networks: torch.compile of the "
                   "encoder and decoder")


def _compile_mode_option(value) -> str:
    return _choice("compile_mode", value, COMPILE_MODES,
                   "auto: CUDA graphs on CUDA, inductor's default elsewhere; replay: record the step "
                   "without compiling it")


def _precision_option(value) -> str:
    return _choice("precision", value, sorted(PRECISIONS), "bf16: autocast for the networks only")


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> RunConfig:
    """Read, override and validate a config file (the embedded quickstart when ``path`` is None)."""
    data = load_config_file(path if path is not None else quickstart_config_path())
    return parse_config(apply_overrides(data, list(overrides)))


def quickstart_config_path() -> Path:
    """The embedded default config (a copy of configs/quickstart.yaml inside the package)."""
    return Path(__file__).resolve().parent.parent / "resources" / "quickstart.yaml"
