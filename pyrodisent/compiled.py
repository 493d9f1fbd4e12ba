"""The whole training step as one compiled tensor program: ``train.compile: step``.

Pyro runs a model and a guide through effect handlers (``poutine.trace``, ``replay``,
``plate``) that live on a global handler stack; ``torch.compile``'s Dynamo cannot trace
them and breaks the graph at each one (9-13 graphs per step, docs/benchmarks.md), so
compiling the loss as it stands gains nothing. What the handlers compute, though, is a
fixed tensor program: for a model and guide whose structure does not change from step to
step, every step runs the same tensor operations on new parameters, a new batch and new
noise. :class:`CompiledStep` records that program once and compiles it, in the spirit of
Pyro's own ``JitTrace_ELBO`` (which records it with ``torch.jit.trace``):

1. the first step runs eagerly (it builds lazily created networks and fills the model's
   caches, and is the reference for everything that follows);
2. the second records ``DisentELBO.differentiable_loss`` — the Pyro model and guide, the
   mean-field ELBO, the :class:`~pyrodisent.PosteriorBatch` and every regularizer's
   ``prepare`` and ``penalty`` — with ``torch.fx``'s ``make_fx`` on fake tensors, with the
   parameters, buffers, batch and step counter as inputs. Pyro's Python runs once, here;
   the program holds only the tensor operations, the sampling ops included;
3. ``torch.compile(program, fullgraph=True)`` compiles it — forward and, through
   AOTAutograd, backward — with no graph break by construction; on CUDA with
   ``mode="reduce-overhead"`` (CUDA graphs) by default;
4. each step then calls the program, ``backward()`` (the compiled backward) and the
   optimizer's step (fused Adam: one kernel), and runs the plugins' own training steps
   (:meth:`~pyrodisent.Regularizer.auxiliary_step`, e.g. FactorVAE's discriminator),
   which are a backward and an optimizer step of their own, eagerly on the codes the
   program returned.

What the program cannot see. Pyro's and torch.distributions' argument validation reads
values, so it is off while recording (as it is in the engine's steps). A Python value that changes between steps would be frozen at
its recorded value, so the step counter goes in as a 0-d tensor (``posterior.step`` is a
tensor inside the program: use tensor operations on it, as ``annealed_vae`` does), and the
tensors are fake while recording, so code that reads a tensor's *value* in Python
(``.item()``, ``if tensor > 0``, a Python ``min`` of a tensor) cannot be recorded. Such a
plugin still works: the step falls back to the eager loss, with one warning that names the
plugin and the line. A model whose Python chooses part of each step declares the choice in a
``step_structure()`` method that draws it (DeVAE: the latent layer of eq. 8); the step calls
it before the program, passes the choice to the model and guide, and keeps one program per
choice.

Random numbers: inductor is told to keep PyTorch's own random operators
(``fallback_random``), so the compiled step draws the same noise from the same global
generator as the eager one: same losses up to float rounding, and a run resumed from a
checkpoint continues exactly.
"""

from __future__ import annotations

import copy
import inspect
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyro
import torch
from pyro import poutine
from torch import nn

from pyrodisent.precision import autocast_networks, check_precision, model_networks

#: recordings after which a step whose Python values keep changing runs eagerly
MAX_PROGRAMS = 8

#: ``mode`` of :func:`compile_step`; "auto" is reduce-overhead on CUDA, default elsewhere
MODES = ("auto", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs", "replay")


class CompileFallbackWarning(UserWarning):
    """The step could not be recorded as a tensor program and runs eagerly."""


class _StepModules(nn.Module):
    """The model and the regularizers as one module, so that one ``functional_call`` swaps
    every parameter and buffer of the step for the program's inputs."""

    def __init__(self, model: nn.Module, elbo):
        super().__init__()
        self.model = model
        self.regularizers = elbo.regularizers
        self._elbo = [elbo]  # in a list: not a submodule

    def forward(self, x: torch.Tensor, step: torch.Tensor, kwargs: dict[str, Any]):
        elbo = self._elbo[0]
        elbo.step = step  # a tensor in the program, so the program follows the counter
        loss = elbo.differentiable_loss(self.model.model, self.model.guide, x, **kwargs)
        return loss, dict(elbo.last_terms)


#: attributes of a batch the deferred plugin step gets afresh (recomputed from the real tensors)
_FRESH = {"diagnostics": dict, "_cache": dict}


def _walk(obj, path=(), depth=0):
    """(path, tensor) for every tensor in a batch: its attributes, and inside them the
    attributes of distributions and dataclass-like objects, dicts, lists and tuples."""
    if torch.is_tensor(obj):
        yield path, obj
    elif depth > 6:
        return
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, path + (k,), depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _walk(v, path + (i,), depth + 1)
    elif isinstance(obj, torch.distributions.Distribution) or (depth == 0 and hasattr(obj, "__dict__")):
        for k, v in vars(obj).items():
            if not (depth == 0 and k in _FRESH):
                yield from _walk(v, path + (k,), depth + 1)


def _batch_tensors(batch) -> list[torch.Tensor]:
    return [t for _, t in _walk(batch)]


def _rebuild(template, tensors: list[torch.Tensor]):
    """A copy of the recorded ``template`` batch with its (fake) tensors replaced, in
    :func:`_walk`'s order, by the program's real ones (detached), and fresh diagnostics."""
    replacement = {path: t.detach() for (path, _), t in zip(_walk(template), tensors)}

    def copy_with(obj, path):
        if torch.is_tensor(obj):
            return replacement[path]
        if not any(p[: len(path)] == path for p in replacement):
            return obj
        if isinstance(obj, dict):
            return {k: copy_with(v, path + (k,)) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            items = [copy_with(v, path + (i,)) for i, v in enumerate(obj)]
            return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
        new = copy.copy(obj)
        for k, v in vars(obj).items():
            setattr(new, k, copy_with(v, path + (k,)))
        return new

    batch = copy_with(template, ())
    if batch is template:
        batch = copy.copy(template)
    for name, make in _FRESH.items():
        if hasattr(batch, name):
            setattr(batch, name, make())
    return batch


class _ModuleState:
    """Every module's attributes before recording, restored after: recording runs the
    model's Python on fake tensors, and a cache it fills (a prior, an index) or a counter it
    bumps must not keep them. :meth:`changed` names the attributes the recording reassigned,
    other than those a module declares in ``eager_state`` (caches, counters of a plugin's own
    eager step): Python state that changes every step, which a recorded program would freeze."""

    def __init__(self, modules: nn.Module, elbo):
        self._saved = [(m, _shallow(vars(m))) for m in modules.modules()]
        self._saved.append((elbo, _shallow(vars(elbo))))

    def changed(self, modules: nn.Module) -> list[str]:
        names = {id(m): name for name, m in modules.named_modules()}
        found = []
        for owner, saved in self._saved:
            if not isinstance(owner, nn.Module):
                continue
            exempt = set(getattr(owner, "eager_state", ())) | {"_parameters", "_buffers", "_modules"}
            for key, value in vars(owner).items():
                if key in exempt:
                    continue
                before = saved.get(key, _MISSING)
                if before is _MISSING or not _same(before, value):
                    found.append(f"{type(owner).__name__} ({names.get(id(owner)) or 'model'}).{key}")
        return found

    def restore(self) -> None:
        for owner, saved in self._saved:
            state = vars(owner)
            state.clear()
            state.update(_shallow(saved))


_MISSING = object()


def _same(a, b) -> bool:
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    if isinstance(a, (int, float, str, bool, type(None))):
        return a == b
    return False


def _shallow(state: dict) -> dict:
    return {k: (dict(v) if type(v) is dict else list(v) if type(v) is list else v) for k, v in state.items()}


@dataclass
class _Program:
    """One recorded program: the GraphModule, what runs it (compiled or not), its inputs'
    parameters and buffers, its step-counter input and the deferred plugin steps."""

    graph: Any
    run: Any
    params: dict
    buffers: dict
    step: torch.Tensor
    deferred: list
    ran: bool = False


class CompiledStep:
    """One training step — loss, backward, optimizer step — with the loss recorded from the
    Pyro model/guide as a tensor program and compiled (module docstring).

    :param model: a module with ``model``/``guide`` methods (``VAE``, ``InfoGAN``, ...).
    :param elbo: its objective (:class:`~pyrodisent.DisentELBO` or a subclass).
    :param optimizer: over the model's parameters.
    :param mode: ``torch.compile`` mode; ``"auto"`` picks ``reduce-overhead`` (CUDA graphs)
        on CUDA and ``default`` elsewhere; ``"replay"`` records the program and runs it
        without compiling it (no compile time; for tests and debugging).
    :param precision: ``"fp32"`` or ``"bf16"`` (autocast for the networks only,
        :mod:`pyrodisent.precision`).
    :param eager_first: run the first step eagerly before recording (it builds networks that
        plugins create on their first batch and fills the model's caches); the engine, which
        has already evaluated the loss once, records at once.
    :param loss_kwargs: passed to the model and guide each step (e.g. ``dataset_size``).

    Call it with a batch; it returns the loss (a tensor, not synchronised) and leaves the
    step's terms in ``elbo.last_terms`` as the eager step does. :attr:`fallback` is the
    reason the step runs eagerly, or ``None`` while it runs compiled.
    """

    def __init__(self, model: nn.Module, elbo, optimizer: torch.optim.Optimizer, *, mode: str = "auto",
                 precision: str = "fp32", eager_first: bool = True, **loss_kwargs):
        if mode not in MODES:
            raise ValueError(f"compile_step: mode must be one of {MODES}, got {mode!r}")
        self.model, self.elbo, self.optimizer = model, elbo, optimizer
        self.mode = mode
        self.loss_kwargs = loss_kwargs
        self.modules = _StepModules(model, elbo)
        self.fallback: str | None = None
        self._programs: dict = {}  # (batch shape, dtype, device, mode, structure) -> _Program
        self._last = None
        self._calls = 0 if eager_first else 1
        dtype = check_precision(precision)
        self._precision_hooks = autocast_networks(model_networks(model), dtype) if dtype is not None else []

    # ------------------------------------------------------------------ the step
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self._calls += 1
        if self.fallback is not None or self._calls == 1:  # the first call of eager_first
            return self._eager_step(x)
        # a model whose Python chooses part of each step (DeVAE's layer) draws it here, and
        # each choice gets a program of its own
        structure = self.model.step_structure() if hasattr(self.model, "step_structure") else {}
        values = self._python_values()
        key = (tuple(x.shape), x.dtype, x.device, self.model.training, tuple(sorted(structure.items())), values)
        program = self._programs.get(key)
        if program is None:
            if self._too_many_programs(values):
                return self._eager_step(x, structure)
            program = self._programs[key] = self._record(x, structure)
            if program is None:
                return self._eager_step(x, structure)
        self._last = program
        if not program.ran:  # the first call compiles: a compiler that fails falls back, as recording does
            try:
                loss = self._compiled_step(program, x)
            except Exception as exc:
                self.fallback = f"the recorded program does not compile: {type(exc).__name__}: {_first_line(exc)}"
                _warn(self.fallback)
                return self._eager_step(x, structure)
            program.ran = True
            return loss
        return self._compiled_step(program, x)

    def _python_values(self) -> tuple:
        """The plain Python numbers, strings and flags of the model and the regularizers: a
        program freezes them, so a change (a β schedule) asks for a program of its own."""
        return tuple(
            (label, tuple((k, v) for k, v in vars(obj).items()
                          if type(v) in (int, float, bool, str) and k not in getattr(obj, "eager_state", ())))
            for label, obj in [("model", self.model)] + [(reg.name, reg) for reg in self.elbo.regularizers]
        )

    def _too_many_programs(self, values: tuple) -> bool:
        """More than :data:`MAX_PROGRAMS` recordings: what keeps changing is named, and the
        step runs eagerly from now on."""
        if len(self._programs) < MAX_PROGRAMS:
            return False
        seen = {key[-1] for key in self._programs}
        changing = sorted({f"{label}.{name}" for vals in seen for label, pairs in vals for name, v in pairs
                           if (name, v) not in dict(values).get(label, ())})
        self.fallback = (f"{len(self._programs)} programs were recorded and the step still asks for another; "
                         f"Python values that change between steps: {', '.join(changing) or 'the batch shape'}")
        _warn(self.fallback)
        return True

    def _eager_step(self, x: torch.Tensor, structure: dict | None = None) -> torch.Tensor:
        kwargs = {**self.loss_kwargs, **(structure or {})}
        loss = self.elbo.differentiable_loss(self.model.model, self.model.guide, x, **kwargs)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss

    def _compiled_step(self, program: _Program, x: torch.Tensor) -> torch.Tensor:
        step = program.step
        step.fill_(self.elbo.step)
        loss, terms, deferred = program.run(program.params, program.buffers, x, step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if program.deferred:
            terms = self._auxiliary_steps(program.deferred, terms, deferred)
        self.elbo.last_terms = terms
        self.elbo.step += 1
        return loss

    def _auxiliary_steps(self, templates: list, terms: dict, deferred: list[list[torch.Tensor]]) -> dict:
        """The plugins' own training steps, on copies of the recorded batches holding the
        program's real tensors (distributions included); what they record replaces the terms
        of the same name, as it does eagerly (one particle: more fall back, see _record)."""
        terms = dict(terms)
        for (reg, template), tensors in zip(templates, deferred):
            batch = _rebuild(template, tensors)
            batch.step = self.elbo.step
            reg.auxiliary_step(batch)
            terms.update(batch.diagnostics)
        return terms

    # ---------------------------------------------------------------- recording
    def _record(self, x: torch.Tensor, structure: dict) -> _Program | None:
        """Record and compile the step's program for this batch shape and structure; ``None``
        (and :attr:`fallback` set, one warning) when it cannot be recorded."""
        from torch.fx.experimental.proxy_tensor import make_fx

        modules = self.modules
        params = dict(modules.named_parameters())
        buffers = dict(modules.named_buffers())
        registers = getattr(self.model, "register_params", None)
        if registers:  # this step trains the modules' parameters; Pyro's param store stays out
            self.model.register_params = False
        state = _ModuleState(modules, self.elbo)
        store = pyro.get_param_store()
        store_names = set(store.keys())
        deferred: list = []
        step = torch.zeros((), dtype=torch.long, device=x.device)
        kwargs = {**self.loss_kwargs, **structure}
        param_sites: list[str] = []

        def program(params, buffers, x, step):
            del deferred[:], param_sites[:]
            self.elbo.deferred_auxiliary = deferred
            with poutine.trace(param_only=True) as params_seen:
                loss, terms = torch.func.functional_call(modules, (params, buffers), (x, step, kwargs))
            param_sites.extend(params_seen.trace.nodes)
            return loss, terms, [_batch_tensors(batch) for _, batch in deferred]

        try:  # validation checks values (Pyro's, torch.distributions'): not part of a program
            with pyro.validation_enabled(False):
                graph = make_fx(program, tracing_mode="fake", _allow_non_fake_inputs=True)(
                    params, buffers, x, step)
            problem = self._unrecordable(state, param_sites, deferred)
        except Exception as exc:  # anything the recording cannot follow: run eagerly, say why
            problem = _describe_failure(exc, self.elbo, self.model)
        finally:
            self.elbo.deferred_auxiliary = None
            state.restore()
            if registers:
                self.model.register_params = registers
            for name in set(store.keys()) - store_names:  # nothing of the recording stays there
                del store[name]
        if problem is not None:
            self.fallback = problem
            _warn(problem)
            return None
        run = graph if self.mode == "replay" else torch.compile(
            graph, fullgraph=True, options=self.compile_options(x.device))
        return _Program(graph, run, params, buffers, step, list(deferred), ran=self.mode == "replay")

    def _unrecordable(self, state: _ModuleState, param_sites: list[str], deferred: list) -> str | None:
        """Why a program that recorded cleanly would still compute something else than the
        eager step, or ``None``."""
        changed = state.changed(self.modules)
        if changed:
            return (f"the step changes Python state that a recorded program would freeze: {', '.join(changed)} "
                    f"(keep per-step state in tensors updated in place, or list a cache in the module's "
                    f"eager_state)")
        if param_sites:
            return (f"the model reads parameters from Pyro's param store ({', '.join(sorted(param_sites)[:4])}); "
                    f"the compiled step trains the modules' own parameters: hold them in nn.Modules")
        if deferred and self.elbo.num_particles > 1:
            return (f"regularizer(s) {sorted({reg.name for reg, _ in deferred})} train a network of their own "
                    f"between particles, and num_particles = {self.elbo.num_particles}: eagerly, each particle's "
                    f"penalty sees the network after the previous particle's step")
        return None

    def compile_options(self, device: torch.device) -> dict[str, Any]:
        """Inductor's options for this step: those of the compile mode (``auto``:
        ``reduce-overhead``, i.e. CUDA graphs, on CUDA; ``default`` elsewhere) plus
        ``fallback_random``, which keeps PyTorch's own random operators so that the compiled
        step draws the eager step's noise. (``torch.compile`` takes a mode or options, not
        both, hence the mode's options spelled out.)"""
        from torch._inductor import list_mode_options

        mode = self.mode
        if mode == "auto":
            mode = "reduce-overhead" if device.type == "cuda" else "default"
        return {**list_mode_options(mode), "fallback_random": True}

    @property
    def graph(self):
        """The last recorded program run (a ``torch.fx.GraphModule``), ``None`` before."""
        return None if self._last is None else self._last.graph

    @property
    def programs(self) -> int:
        """How many programs were recorded (one per batch shape and step structure)."""
        return sum(p is not None for p in self._programs.values())

    def close(self) -> None:
        """Remove the precision hooks this step put on the model's networks."""
        for handle in self._precision_hooks:
            handle.remove()
        self._precision_hooks = []


def compile_step(model: nn.Module, elbo, optimizer: torch.optim.Optimizer, *, mode: str = "auto",
                 precision: str = "fp32", eager_first: bool = True, **loss_kwargs) -> CompiledStep:
    """The compiled training step of ``model`` under ``elbo`` with ``optimizer``, for your own
    loop: ``step = compile_step(vae, elbo, opt, dataset_size=N)``, then ``loss = step(x)``
    each iteration (:class:`CompiledStep`)."""
    return CompiledStep(model, elbo, optimizer, mode=mode, precision=precision, eager_first=eager_first,
                        **loss_kwargs)


# ---------------------------------------------------------------------- messages
def _warn(message: str) -> None:
    warnings.warn(f"compile: step falls back to the eager step: {message}", CompileFallbackWarning, stacklevel=4)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _source_files(objects) -> dict[str, str]:
    """source file → the name to blame for it, for each plugin and the model."""
    files = {}
    for label, obj in objects:
        for cls in type(obj).__mro__:
            if cls.__module__.startswith(("torch", "pyro.", "builtins")) or cls.__module__ in ("pyrodisent.regularizer",):
                continue
            try:
                files.setdefault(str(Path(inspect.getsourcefile(cls)).resolve()), label)
            except (TypeError, OSError):
                continue
    return files


def _describe_failure(exc: BaseException, elbo, model) -> str:
    """Which plugin (or the model) the recording failed in, and the line."""
    objects = [(f"regularizer {reg.name!r}", reg) for reg in elbo.regularizers]
    objects.append((f"model {type(model).__name__}", model))
    files = _source_files(objects)
    reason = _first_line(exc)
    reason = f"{type(exc).__name__}: {reason}" if reason and reason != type(exc).__name__ else type(exc).__name__
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        label = files.get(str(Path(frame.filename).resolve()))
        if label is not None:
            return (f"{label} at {frame.filename}:{frame.lineno} ({frame.line}) cannot be recorded as a "
                    f"tensor program: {reason}")
    return f"the step cannot be recorded as a tensor program: {reason}"
