"""Time one Adam step over a VAE's parameters with each of torch's implementations.

``fused`` (one kernel over all parameters), ``foreach`` (a kernel per operation over the
list) and the per-parameter loop, for the quickstart MLP (width 400), a small MLP (width 100)
of β-STCVAE (Chen et al. 2022) and the conv network of RTC-VAE (Cheng et al. 2020), all 64×64
and D = 10. ``pyrodisent.optim.fast_adam`` picks ``fused`` where the device has it.

    python benchmarks/optimizer_step.py [--device cuda] [--steps 50]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from pyrodisent.models import VAE

MODELS = (("mlp", 400), ("mlp", 100), ("conv", None))
IMPLEMENTATIONS = (
    ("fused", {"fused": True}),
    ("foreach", {"foreach": True}),
    ("loop", {"foreach": False}),
)


def time_step(params, options, steps: int, device: torch.device) -> float | None:
    try:
        opt = torch.optim.Adam(params, lr=1e-3, **options)
    except RuntimeError:  # no fused kernel here
        return None
    for _ in range(5):
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - start) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=50)
    args = p.parse_args()
    device = torch.device(args.device)
    print(
        f"Adam step, {platform.processor() or platform.machine()}, device {device}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    for encoder, width in MODELS:
        options = {"hidden_width": width} if width else {}
        model = VAE(
            input_shape=(1, 64, 64),
            latent_dim=10,
            encoder=encoder,
            register_params=False,
            **options,
        )
        params = [q.to(device) for q in model.parameters()]
        params = [torch.nn.Parameter(q.detach()) for q in params]
        for q in params:
            q.grad = torch.randn_like(q)
        n = sum(q.numel() for q in params)
        row = [
            f"{encoder}{'' if width is None else f' width {width}'}".ljust(16),
            f"{n:>10,} params",
        ]
        for name, opts in IMPLEMENTATIONS:
            ms = time_step(params, opts, args.steps, device)
            row.append(f"{name} {'n/a' if ms is None else f'{ms:7.2f} ms'}")
        print("  ".join(row))


if __name__ == "__main__":
    main()
