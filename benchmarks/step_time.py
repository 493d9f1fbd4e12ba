"""Time one β-TCVAE training step: pyrodisent's engine vs. a hand-written PyTorch loop.

Both train the same model — the conv VAE of RTC-VAE (Cheng et al. 2020, Table 2) on 64×64 binary
images, D = 10, Bernoulli likelihood, β-TCVAE with β = 6 and the corrected MSS estimator — with
Adam.

- ``engine``: :meth:`pyrodisent.engine.Trainer.train_step` (the Pyro model/guide through
  DisentELBO, fused/foreach Adam, batches drawn on the device).
- ``handwritten``: the loss written directly in torch (BCE + analytic KL + (β−1)·TC with
  the naive [M, M, D] layout, as research code does), eager.
- ``pyro_svi`` (``--svi``): stock ``pyro.infer.SVI`` with ``pyro.optim.Adam`` on the same
  model/guide and DisentELBO, for reference.

    python benchmarks/step_time.py --device cuda --batch-size 256 --steps 50
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import pyro
import torch

from pyrodisent import DisentELBO, hookimpl, regularizer
from pyrodisent.data import FactorDataset
from pyrodisent.engine import Trainer
from pyrodisent.estimators import log_importance_weights
from pyrodisent.models.networks import build_networks, split_posterior_parameters
from pyrodisent.optim import fast_adam
from pyrodisent.plugin_manager import register_plugin


def random_binary_images(n: int = 8192, seed: int = 0) -> FactorDataset:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 64, 64, generator=g) > 0.7
    return FactorDataset(images, np.zeros((n, 1), dtype=np.int64), ["none"], [1], name="bench_random")


class _BenchData:
    @hookimpl
    def pyrodisent_datasets(self):
        return {"bench_random": random_binary_images}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, device, warmup: int, steps: int) -> list[float]:
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t)
    return times


def engine_step(args, device):
    config = {
        "seed": 0,
        "device": str(device),
        "model": {"name": "vae", "encoder": "conv", "latent_dim": 10, "likelihood": "bernoulli"},
        "data": {"name": "bench_random"},
        "regularizers": [{"name": "tc", "beta": 6.0, "estimator": "mss"}],
        "train": {"steps": 10**6, "batch_size": args.batch_size, "compile": args.compile,
                  "optimizer": {"name": "adam", "lr": 1e-4}},
    }
    import tempfile

    trainer = Trainer(config, tempfile.mkdtemp(prefix="bench-"), progress=False)
    trainer._setup()
    pyro.enable_validation(False)
    return trainer.train_step


def handwritten_step(args, device):
    torch.manual_seed(0)
    encoder, decoder = build_networks("conv", (1, 64, 64), 10)
    encoder, decoder = encoder.to(device), decoder.to(device)
    if args.compile:
        encoder.compile()
        decoder.compile()
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = fast_adam(params, lr=1e-4)  # the engine's optimizer, so only the loss path differs
    data = random_binary_images().images.to(device)
    N, M, beta = data.shape[0], args.batch_size, 6.0
    log_w = log_importance_weights(M, N, "mss", device=device)
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def step():
        x = data[torch.randint(N, (M,), device=device)].float()
        loc, scale = split_posterior_parameters(encoder(x))
        z = loc + scale * torch.randn_like(loc)
        logits = decoder(z)
        rec = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / M
        kl = (0.5 * (loc.square() + scale.square() - 1) - scale.log()).sum(-1).mean()
        # naive [M, M, D] layout
        lq = -0.5 * ((z[:, None] - loc[None]) / scale[None]).square() - scale.log()[None] - half_log_2pi
        log_qz = torch.logsumexp(lq.sum(-1) + log_w, dim=1)
        log_qz_dims = torch.logsumexp(lq + log_w[..., None], dim=1).sum(-1)
        tc = (log_qz - log_qz_dims).mean()
        loss = rec + kl + (beta - 1) * tc
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def svi_step(args, device):
    from pyro.infer import SVI

    from pyrodisent.models import VAE

    vae = VAE((1, 64, 64), 10, encoder="conv").to(device)
    data = random_binary_images().images.to(device)
    N, M = data.shape[0], args.batch_size
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-4}), DisentELBO([regularizer("tc", beta=6.0, estimator="mss")]))

    def step():
        x = data[torch.randint(N, (M,), device=device)].float()
        return svi.step(x, dataset_size=N)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks in both paths")
    parser.add_argument("--svi", action="store_true", help="also time stock pyro SVI")
    args = parser.parse_args()
    device = torch.device(args.device)
    register_plugin(_BenchData(), "bench-data")
    pyro.set_rng_seed(0)
    runs = {"engine": engine_step(args, device), "handwritten": handwritten_step(args, device)}
    if args.svi:
        runs["pyro_svi"] = svi_step(args, device)
    medians = {}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"β-TCVAE step, conv 64×64, D=10, batch {args.batch_size}, compile={args.compile}, on {name}")
    for label, step in runs.items():
        times = time_steps(step, device, args.warmup, args.steps)
        medians[label] = statistics.median(times)
        print(f"  {label:<12} median {medians[label] * 1e3:8.2f} ms   min {min(times) * 1e3:8.2f} ms")
    ratio = medians["engine"] / medians["handwritten"]
    print(f"  engine / handwritten = {ratio:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
