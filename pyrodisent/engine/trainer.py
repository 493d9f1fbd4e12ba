"""The training engine behind ``pyrodisent train``.

The Pyro model/guide pair stays the source of truth: each step evaluates
:meth:`DisentELBO.differentiable_loss` on ``model.model``/``model.guide``. What the engine changes
is everything around it (docs/training.md, "The fast path"): one ``torch.optim`` optimizer over the
model's parameters (fused Adam where the device has it, else foreach) instead of Pyro's
per-parameter optimizers, batches drawn on the device, Pyro validation off, and no host sync per
step except at logging intervals (loss terms are accumulated on the device).

A run directory holds ``config.yaml`` (resolved), TensorBoard events under ``tb/``,
``checkpoint.pt`` (atomic, ``weights_only``-loadable) and ``summary.json``. Running the same
command again resumes from the checkpoint and reproduces the uninterrupted run on CPU.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyro
import torch
import yaml
from tqdm.auto import tqdm

from pyrodisent.atomic_file import write_json_atomic, write_text_atomic
from pyrodisent.compiled import compile_step
from pyrodisent.data import FactorDataset, get_dataset
from pyrodisent.data.pairs import make_pair_sampler
from pyrodisent.data.sampler import make_batch_sampler
from pyrodisent.diagnostics import gaussian_tc_diagnostics
from pyrodisent.elbo import DisentELBO
from pyrodisent.engine.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_atomic
from pyrodisent.engine.config import ConfigError, RunConfig, load_config, parse_config
from pyrodisent.engine.images import latent_traversal_grid, make_grid, reconstruction_grid
from pyrodisent.errors import UserError
from pyrodisent.metrics import evaluate_metrics
from pyrodisent.optim import fast_adam
from pyrodisent.plugin_manager import get_component
from pyrodisent.posterior import UnsupportedPosteriorError
from pyrodisent.precision import autocast_networks, check_precision, model_networks
from pyrodisent.regularizer import regularizer

CHECKPOINT_FORMAT = 1


class TrainingDivergedError(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {spec!r} requested but CUDA is not available; use --device cpu or auto")
    return torch.device(spec)


def build_model(config: RunConfig, dataset: FactorDataset) -> torch.nn.Module:
    """The model of ``config.model`` for the dataset's observation shape."""
    factory = get_component("models", config.model.name)
    try:
        return factory(input_shape=dataset.observation_shape, **config.model.options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config key 'model' ({config.model.name}): {exc}") from None


def build_dataset(config: RunConfig) -> FactorDataset:
    try:
        return get_dataset(config.data.name, **config.data.options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config key 'data' ({config.data.name}): {exc}") from None


def build_optimizer(config: RunConfig, params, device: torch.device) -> torch.optim.Optimizer:
    """Adam or AdamW over ``params``: fused where the device has the kernel (CUDA; CPU from
    torch 2.4), else foreach (:func:`pyrodisent.optim.fast_adam`)."""
    opt = config.train.optimizer
    return fast_adam(
        params, decoupled_weight_decay=opt.name == "adamw", lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay
    )


def _as_run_config(config) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, dict):
        return parse_config(config)
    return load_config(config)


@contextmanager
def _pyro_validation(enabled: bool):
    previous = pyro.infer.util.is_validation_enabled()
    pyro.enable_validation(enabled)
    try:
        yield
    finally:
        pyro.enable_validation(previous)


@contextmanager
def _graceful_sigint(flag: dict):
    """First Ctrl-C asks the loop to save and stop; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if flag.get("stop"):
            raise KeyboardInterrupt
        flag["stop"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Trainer:
    """One training run in one run directory; :meth:`run` trains (or resumes) it."""

    def __init__(self, config, out_dir: str | Path, device: str | None = None, progress: bool = True):
        self.config = _as_run_config(config)
        if device is not None:
            self.config.device = device
        self.out_dir = Path(out_dir)
        self.device = resolve_device(self.config.device)
        self.progress = progress
        self.stop_flag: dict[str, bool] = {}

    # ----------------------------------------------------------------- set-up
    def _setup(self) -> None:
        cfg = self.config
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._check_or_write_config()
        pyro.set_rng_seed(cfg.seed)  # Pyro's samplers use torch's global RNG; saved in checkpoints
        self.dataset = build_dataset(cfg)
        if len(self.dataset) < cfg.train.batch_size:
            raise ConfigError(
                f"config key 'train.batch_size': {cfg.train.batch_size} is larger than the dataset "
                f"({len(self.dataset)} points)"
            )
        self.model = build_model(cfg, self.dataset).to(self.device)
        if hasattr(self.model, "register_params"):
            self.model.register_params = False  # the engine owns the optimizer
        regularizers = [regularizer(r.name, **r.options) for r in cfg.regularizers]
        # a model that is not trained by an ELBO (InfoGAN) brings its own objective
        make_objective = getattr(self.model, "make_objective", None)
        try:
            self.elbo = (make_objective(regularizers, num_particles=cfg.train.num_particles) if make_objective
                         else DisentELBO(regularizers, num_particles=cfg.train.num_particles))
        except ValueError as exc:
            raise ConfigError(f"config keys 'model' ({cfg.model.name}) and 'regularizers': {exc}") from None
        self.elbo.regularizers.to(self.device)
        self.optimizer = build_optimizer(cfg, self.model.parameters(), self.device)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(cfg.seed + 1)
        self.sampler = self._make_sampler(generator)
        held = torch.Generator().manual_seed(cfg.seed + 2)
        n_held = min(len(self.dataset), max(cfg.train.diagnostics_size if cfg.train.diagnostics_every else 0, 16))
        index = torch.randperm(len(self.dataset), generator=held)[:n_held]
        self.heldout = FactorDataset.batch_to_float(self.dataset.images[index]).to(self.device)
        precision = check_precision(cfg.train.precision)
        if precision is not None and cfg.train.compile != "step":  # the compiled step puts its own
            autocast_networks(model_networks(self.model), precision)
        if cfg.train.compile == "networks":
            for module in model_networks(self.model):
                module.compile()
        self._check_regularizers_fit()
        self.compiled_step = (
            compile_step(self.model, self.elbo, self.optimizer, mode=cfg.train.compile_mode,
                         precision=cfg.train.precision, eager_first=False, dataset_size=len(self.dataset))
            if cfg.train.compile == "step" else None
        )
        self.step = 0
        self.wall_time = 0.0
        ckpt = self.out_dir / CHECKPOINT_NAME
        if ckpt.exists():
            self._restore(load_checkpoint(ckpt, map_location=self.device))

    def _make_sampler(self, generator: torch.Generator):
        """Single observations, or pairs for a model that declares ``pair_sampling`` (the
        options of :func:`~pyrodisent.data.pairs.make_pair_sampler`, e.g. Ada-GVAE's k)."""
        batch_size = self.config.train.batch_size
        pair_sampling = getattr(self.model, "pair_sampling", None)
        if pair_sampling is None:
            return make_batch_sampler(self.dataset, batch_size, self.device, generator)
        if 2 * batch_size > len(self.dataset):
            raise ConfigError(
                f"config key 'train.batch_size': {batch_size} pairs are {2 * batch_size} observations, "
                f"more than the dataset holds ({len(self.dataset)}); {self.config.model.name} trains on pairs"
            )
        try:
            return make_pair_sampler(self.dataset, batch_size, self.device, generator, **pair_sampling)
        except ValueError as exc:
            raise ConfigError(
                f"config keys 'model' ({self.config.model.name}) and 'data' ({self.config.data.name}): "
                f"the model trains on pairs of observations, which this data set cannot give: {exc}"
            ) from None

    def _images_per_step(self) -> int:
        """Observations in one batch: ``train.batch_size``, twice that for a batch of pairs."""
        pairs = getattr(self.model, "pair_sampling", None) is not None
        return self.config.train.batch_size * (2 if pairs else 1)

    def _loss_check_batch(self) -> torch.Tensor:
        """A few held-out observations, or pairs drawn from their own generator (the
        sampler's stream is left as it is)."""
        if getattr(self.model, "pair_sampling", None) is None:
            return self.heldout[:16]
        generator = torch.Generator(device=self.device).manual_seed(self.config.seed + 2)
        return self.sampler.sample(min(16, self.config.train.batch_size), generator)

    def _check_regularizers_fit(self) -> None:
        """Evaluate the loss once on held-out images, without gradients, so a regularizer that
        does not fit the model (groups that do not divide the latent size, a prior without
        per-dim marginals, ...) fails here with the config key named, not at step 1 with a
        traceback. Side-effect free: RNG streams and the model's own state (e.g. DeVAE's
        layer generator) are restored, and no step is counted."""
        model_state = self.model.state_dict()
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad(), _pyro_validation(False):
            try:
                self.elbo.differentiable_loss(
                    self.model.model, self.model.guide, self._loss_check_batch(), dataset_size=len(self.dataset)
                )
            except (ValueError, UnsupportedPosteriorError) as exc:
                names = ", ".join(r.name for r in self.config.regularizers) or "none"
                raise ConfigError(
                    f"config keys 'model' ({self.config.model.name}) and 'regularizers' ({names}) "
                    f"do not fit together: {exc}"
                ) from None
        self.model.load_state_dict(model_state)

    def _check_or_write_config(self) -> None:
        path = self.out_dir / "config.yaml"
        resolved = self.config.to_dict()
        if path.exists() and (self.out_dir / CHECKPOINT_NAME).exists():
            previous = yaml.safe_load(path.read_text())
            try:  # written by an older version: compare it as this version reads it
                previous = parse_config(previous).to_dict()
            except ConfigError:
                pass
            a = {**previous, "train": {**previous.get("train", {}), "steps": None}}
            b = {**resolved, "train": {**resolved["train"], "steps": None}}
            if a != b:
                raise ConfigError(
                    f"{str(self.out_dir)!r} holds a run with a different config; only train.steps may "
                    f"change on resume. Use another --out directory, or delete that run."
                )
        write_text_atomic(path, yaml.safe_dump(resolved, sort_keys=False))

    # ------------------------------------------------------------- checkpoints
    def _state(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "wall_time": self.wall_time,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "elbo": self.elbo.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": rng,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError(f"checkpoint in {str(self.out_dir)!r} has an unknown format {state.get('format')!r}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.elbo.load_state_dict(state["elbo"])
        self.sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), self.device)
        self.step = int(state["step"])
        self.wall_time = float(state["wall_time"])

    def save_checkpoint(self) -> None:
        save_atomic(self._state(), self.out_dir / CHECKPOINT_NAME)

    # --------------------------------------------------------------- the loop
    def train_step(self) -> torch.Tensor:
        """One optimizer step; returns the loss tensor (on the device, not synced)."""
        x = self.sampler.next_batch()
        if self.compiled_step is not None:
            return self.compiled_step(x)
        loss = self.elbo.differentiable_loss(self.model.model, self.model.guide, x, dataset_size=len(self.dataset))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss

    def run(self, max_steps: int | None = None) -> dict[str, Any]:
        """Train until ``train.steps`` (or ``max_steps`` in total), then write the summary."""
        # tensorboard: only for a training run (its import costs seconds)
        from torch.utils.tensorboard import SummaryWriter

        self._setup()
        cfg = self.config.train
        target = cfg.steps if max_steps is None else min(cfg.steps, max_steps)
        writer = SummaryWriter(str(self.out_dir / "tb"), purge_step=self.step + 1 if self.step else None)
        sums: dict[str, torch.Tensor] = {}
        bad = torch.zeros((), dtype=torch.bool, device=self.device)
        count, last_terms = 0, {}
        interrupted = False
        good_step = self.step if (self.out_dir / CHECKPOINT_NAME).exists() else None
        verified_step = self.step  # the loss was finite up to here
        bar = tqdm(total=target, initial=min(self.step, target), disable=not self.progress,
                   desc="train", unit="step", dynamic_ncols=True)
        t_start = t_interval = time.perf_counter()
        wall_before = self.wall_time
        try:
            with _pyro_validation(False), _graceful_sigint(self.stop_flag):
                self.model.train()
                while self.step < target:
                    loss = self.train_step()
                    self.step += 1
                    bad |= ~torch.isfinite(loss.detach())
                    for k, v in self.elbo.last_terms.items():
                        sums[k] = sums[k] + v if k in sums else v.clone()
                    count += 1
                    bar.update(1)
                    boundary = self.step % cfg.log_every == 0 or self.step == target
                    ckpt_due = self.step % cfg.checkpoint_every == 0 or self.step == target
                    if boundary or ckpt_due or self.stop_flag.get("stop"):
                        if bool(bad):  # the one host sync per interval
                            raise self._diverged(good_step, verified_step)
                        verified_step = self.step
                        if count:
                            last_terms = self._log_scalars(writer, sums, count, time.perf_counter() - t_interval)
                            t_interval = time.perf_counter()
                            bar.set_postfix(loss=f"{last_terms['loss']:.4g}", refresh=False)
                        sums, count = {}, 0
                    self._periodic(writer)
                    if ckpt_due or self.stop_flag.get("stop"):
                        self.wall_time = wall_before + time.perf_counter() - t_start
                        self.save_checkpoint()
                        good_step = self.step
                    if self.stop_flag.get("stop"):
                        interrupted = True
                        break
        finally:
            bar.close()
            writer.close()
        self.wall_time = wall_before + time.perf_counter() - t_start
        summary = {
            "steps_done": self.step,
            "steps_target": cfg.steps,
            "finished": self.step >= cfg.steps,
            "interrupted": interrupted,
            "wall_time_s": round(self.wall_time, 3),
            "images_per_s": round(self.step * self._images_per_step() / self.wall_time, 1) if self.wall_time > 0 else None,
            "device": str(self.device),
            "final_terms": last_terms,
        }
        write_json_atomic(self.out_dir / "summary.json", summary)
        return summary

    def _diverged(self, good_step: int | None, verified_step: int) -> TrainingDivergedError:
        kept = (
            f"the last good checkpoint (step {good_step}) is kept in {str(self.out_dir / CHECKPOINT_NAME)!r}"
            if good_step is not None
            else "no checkpoint had been written yet"
        )
        return TrainingDivergedError(
            f"the loss became NaN or infinite between steps {verified_step + 1} and {self.step}; "
            f"{kept}. Lower "
            f"train.optimizer.lr, reduce the regularizer weights, or check the data range "
            f"(Bernoulli likelihoods need values in [0, 1])."
        )

    def _log_scalars(self, writer, sums, count, elapsed) -> dict[str, float]:
        keys = sorted(sums)
        values = torch.stack([sums[k].float() for k in keys]).div_(count).tolist()
        terms = dict(zip(keys, values))
        for k, v in terms.items():
            writer.add_scalar(f"loss/{k}", v, self.step)
        writer.add_scalar("train/lr", self.optimizer.param_groups[0]["lr"], self.step)
        if elapsed > 0:
            writer.add_scalar("train/images_per_s", count * self._images_per_step() / elapsed, self.step)
        return terms

    def _periodic(self, writer) -> None:
        cfg = self.config.train
        if cfg.image_every and self.step % cfg.image_every == 0 and len(self.dataset.observation_shape) == 3:
            with torch.no_grad():
                self.model.eval()
                x = self.heldout[:8]
                own = getattr(self.model, "summary_images", None)  # a model's own pictures
                if own is not None:
                    for tag, images in own(x).items():  # [rows, cols, C, H, W]
                        flat = images.reshape(-1, *images.shape[2:]).float().cpu()
                        writer.add_image(tag, make_grid(flat, nrow=images.shape[1]), self.step)
                else:
                    writer.add_image("images/reconstructions", reconstruction_grid(self.model, x), self.step)
                    writer.add_image("images/traversals", latent_traversal_grid(self.model, x[:1]), self.step)
                self.model.train()
        if cfg.diagnostics_every and self.step % cfg.diagnostics_every == 0:
            gen = torch.Generator(device=self.device).manual_seed(self.config.seed + self.step)
            with torch.no_grad():
                for k, v in gaussian_tc_diagnostics(self.model, self.heldout, gen).items():
                    writer.add_scalar(f"diagnostics/{k}", v, self.step)
        if cfg.metrics_every and self.step % cfg.metrics_every == 0:
            def represent(x):
                return self.model.encode(FactorDataset.batch_to_float(x).to(self.device))[0]

            with torch.no_grad():
                self.model.eval()
                scores = evaluate_metrics(represent, self.dataset, cfg.metrics, random_state=self.config.seed, fast=True)
                self.model.train()
            for k, v in scores.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    writer.add_scalar(f"metrics/{k}", v, self.step)


def train(config, out_dir: str | Path, max_steps: int | None = None, device: str | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Train (or resume) a run; ``config`` is a path, a mapping or a :class:`RunConfig`."""
    return Trainer(config, out_dir, device=device, progress=progress).run(max_steps=max_steps)


def load_run(run_dir: str | Path, device: str = "cpu"):
    """(model, dataset, config) of a trained run, the model in eval mode with its weights."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise UserError(f"{str(run_dir)!r} is not a run directory (no config.yaml); pass the --out of a train run")
    config = parse_config(yaml.safe_load(cfg_path.read_text()))
    dataset = build_dataset(config)
    model = build_model(config, dataset)
    state = load_checkpoint(run_dir / CHECKPOINT_NAME, map_location=device)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), dataset, config
