"""Time one β-TCVAE training step: pyrodisent's engine (eager and ``compile: step``) against a
hand-written PyTorch loop of the same model and loss (eager and ``torch.compile``d).

Models (``--model``):

- ``tiny``: the size of PDisVAE's synthetic runs — 20-dim continuous data (N = 2000), 6
  latents, MLP width 64, Gaussian likelihood, batch 128;
- ``mlp``: 64×64 binary images, MLP width 400, D = 10, Bernoulli, batch 64;
- ``conv``: 64×64 binary images, the conv net of RTC-VAE (Cheng et al. 2020, Table 2), D = 10,
  Bernoulli, batch 64 (``--batch-size 256`` for the GPU figure);
- ``quickstart``: the quickstart's Burgess et al. 2018 CNN on 32×32 images, D = 10, batch 64.

All use β-TCVAE (β = 6, Chen et al. 2018's convention) with the corrected MSS estimator and
the engine's fused Adam. Variants:

- ``engine``: :meth:`pyrodisent.engine.Trainer.train_step` (the Pyro model/guide through
  DisentELBO), eager;
- ``engine_step``: the same with ``train.compile: step`` (:mod:`pyrodisent.compiled`);
- ``hand``: the loss written directly in torch (likelihood + analytic KL + (β−1)·TC with the
  naive [M, M, D] layout, as research code does), eager;
- ``hand_compiled``: that loss under ``torch.compile`` (backward compiled by AOTAutograd),
  then the same fused Adam step;
- ``svi`` (ask for it with ``--variants``): stock ``pyro.infer.SVI`` with Pyro's
  per-parameter Adam, for reference.

The variants are timed in interleaved rounds (each round times every variant for ``--steps``
steps), so a change of load on the machine hits them alike; the figure is the median over
rounds of the per-step mean. Compile time is reported separately.

    python benchmarks/step_time.py --model tiny
    python benchmarks/step_time.py --model conv --device cuda --batch-size 256
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import tempfile
import time

import numpy as np
import pyro
import torch

from pyrodisent import hookimpl
from pyrodisent.data import FactorDataset
from pyrodisent.engine import Trainer
from pyrodisent.estimators import log_importance_weights
from pyrodisent.models.networks import build_networks, split_posterior_parameters
from pyrodisent.optim import fast_adam
from pyrodisent.plugin_manager import register_plugin

#: model → (network, input shape, latent dim, hidden width, likelihood, default batch, N)
MODELS = {
    "tiny": ("mlp", (20,), 6, 64, "gaussian", 128, 2000),
    "mlp": ("mlp", (1, 64, 64), 10, 400, "bernoulli", 64, 8192),
    "conv": ("conv", (1, 64, 64), 10, 0, "bernoulli", 64, 8192),
    "quickstart": ("burgess", (1, 32, 32), 10, 0, "bernoulli", 64, 4608),
}
BETA = 6.0


def bench_dataset(model: str, seed: int = 0) -> FactorDataset:
    _, shape, _, _, likelihood, _, n = MODELS[model]
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(n, *shape, generator=g) if likelihood == "gaussian" else torch.rand(n, *shape, generator=g) > 0.7
    return FactorDataset(data, np.zeros((n, 1), dtype=np.int64), ["none"], [1], name=f"bench_{model}")


class _BenchData:
    @hookimpl
    def pyrodisent_datasets(self):
        return {f"bench_{m}": (lambda m=m: bench_dataset(m)) for m in MODELS}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def engine_step(args, device, compile_mode: str):
    network, _, latent_dim, width, likelihood, _, _ = MODELS[args.model]
    model = {"name": "vae", "encoder": network, "latent_dim": latent_dim, "likelihood": likelihood}
    if network == "mlp":
        model.update(hidden_width=width, hidden_layers=1)
    config = {
        "seed": 0,
        "device": str(device),
        "model": model,
        "data": {"name": f"bench_{args.model}"},
        "regularizers": [{"name": "tc", "beta": BETA, "estimator": "mss"}],
        "train": {"steps": 10**6, "batch_size": args.batch_size, "compile": compile_mode,
                  "compile_mode": args.compile_mode, "precision": args.precision,
                  "optimizer": {"name": "adam", "lr": 1e-4}},
    }
    trainer = Trainer(config, tempfile.mkdtemp(prefix="bench-"), progress=False)
    trainer._setup()
    pyro.enable_validation(False)
    return trainer.train_step


def hand_step(args, device, compiled: bool):
    network, shape, D, width, likelihood, _, _ = MODELS[args.model]
    torch.manual_seed(0)
    encoder, decoder = build_networks(network, shape, D, width, 1)
    encoder, decoder = encoder.to(device), decoder.to(device)
    opt = fast_adam(list(encoder.parameters()) + list(decoder.parameters()), lr=1e-4)
    data = bench_dataset(args.model).images.to(device)
    N, M = data.shape[0], args.batch_size
    log_w = log_importance_weights(M, N, "mss", device=device)
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def loss_fn(x):
        loc, scale = split_posterior_parameters(encoder(x))
        z = loc + scale * torch.randn_like(loc)
        out = decoder(z)
        if likelihood == "bernoulli":
            rec = torch.nn.functional.binary_cross_entropy_with_logits(out, x, reduction="sum") / M
        else:
            rec = (0.5 * (x - out).square() + half_log_2pi).sum() / M
        kl = (0.5 * (loc.square() + scale.square() - 1) - scale.log()).sum(-1).mean()
        lq = -0.5 * ((z[:, None] - loc[None]) / scale[None]).square() - scale.log()[None] - half_log_2pi
        log_qz = torch.logsumexp(lq.sum(-1) + log_w, dim=1)
        log_qz_dims = torch.logsumexp(lq + log_w[..., None], dim=1).sum(-1)
        tc = (log_qz - log_qz_dims).mean()
        return rec + kl + (BETA - 1) * tc

    if compiled:
        mode = args.compile_mode
        if mode == "auto":
            mode = "reduce-overhead" if device.type == "cuda" else "default"
        loss_fn = torch.compile(loss_fn, fullgraph=True, mode=None if mode == "default" else mode)

    def step():
        x = data[torch.randint(N, (M,), device=device)].float()
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def svi_step(args, device):
    """Stock ``pyro.infer.SVI`` with Pyro's per-parameter Adam on the same model/guide and loss."""
    from pyro.infer import SVI

    from pyrodisent import DisentELBO, regularizer
    from pyrodisent.models import VAE

    network, shape, D, width, likelihood, _, _ = MODELS[args.model]
    options = {"hidden_width": width} if network == "mlp" else {}
    vae = VAE(shape, D, encoder=network, likelihood=likelihood, **options).to(device)
    data = bench_dataset(args.model).images.to(device)
    N, M = data.shape[0], args.batch_size
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-4}),
              DisentELBO([regularizer("tc", beta=BETA, estimator="mss")]))

    def step():
        return svi.step(data[torch.randint(N, (M,), device=device)].float(), dataset_size=N)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the model's (see MODELS)")
    parser.add_argument("--steps", type=int, default=100, help="steps per round and variant")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="the engine's train.precision")
    parser.add_argument("--compile-mode", default="auto",
                        choices=["auto", "default", "reduce-overhead", "max-autotune"],
                        help="torch.compile mode of both compiled variants (auto: CUDA graphs on CUDA)")
    parser.add_argument("--variants", default="engine,engine_step,hand,hand_compiled")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.batch_size = args.batch_size or MODELS[args.model][5]
    device = torch.device(args.device)
    register_plugin(_BenchData(), "bench-data")
    pyro.set_rng_seed(0)
    builders = {
        "engine": lambda: engine_step(args, device, "off"),
        "engine_step": lambda: engine_step(args, device, "step"),
        "hand": lambda: hand_step(args, device, compiled=False),
        "hand_compiled": lambda: hand_step(args, device, compiled=True),
        "svi": lambda: svi_step(args, device),
    }
    variants = args.variants.split(",")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    print(f"β-TCVAE step, model {args.model}, batch {args.batch_size}, precision {args.precision}, "
          f"compile mode {args.compile_mode}, "
          f"torch {torch.__version__}, on {name}")
    steps, first = {}, {}
    for label in variants:
        steps[label] = builders[label]()
        t = time.perf_counter()
        for _ in range(args.warmup):  # the compiled variants compile here
            steps[label]()
        _sync(device)
        first[label] = time.perf_counter() - t
    per_round: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(args.rounds):
        for label in variants:
            _sync(device)
            t = time.perf_counter()
            for _ in range(args.steps):
                steps[label]()
            _sync(device)
            per_round[label].append((time.perf_counter() - t) / args.steps)
    medians = {label: statistics.median(v) for label, v in per_round.items()}
    for label in variants:
        v = per_round[label]
        print(f"  {label:<14} {medians[label] * 1e3:8.3f} ms/step  (rounds {min(v) * 1e3:.3f}-{max(v) * 1e3:.3f}; "
              f"first {args.warmup} steps incl. compile {first[label]:.1f} s)")
    if "engine" in medians and "hand" in medians:
        print(f"  engine / hand                   = {medians['engine'] / medians['hand']:.2f}x (target <= 1.3x)")
    if "engine_step" in medians and "hand_compiled" in medians:
        target = "1.2x" if args.model == "tiny" else "1.1x"
        print(f"  engine_step / hand_compiled     = {medians['engine_step'] / medians['hand_compiled']:.2f}x "
              f"(target <= {target})")
    if "engine_step" in medians and "engine" in medians:
        print(f"  engine / engine_step (speed-up) = {medians['engine'] / medians['engine_step']:.2f}x")


if __name__ == "__main__":
    main()
