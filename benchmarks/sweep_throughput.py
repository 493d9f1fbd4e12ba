"""Throughput of many small models: Ray packing and one vectorized step for a stack of models.

Two measurements:

1. **Trials per hour** of a sweep of small MLP trials (β-STCVAE grouped TC, Chen et al. 2022; one
   hidden layer) through :func:`pyrodisent.sweep.runner.run_sweep`: one trial at a time in
   this process (``--no-ray``), Ray with one trial per machine (``num_cpus`` = all), and Ray
   packing one trial per CPU (``num_cpus: 1``; on a GPU machine the same is done with a
   fractional ``num_gpus``). Ray start-up is excluded; each Ray row runs after a warm-up
   sweep, so worker imports are excluded too.

2. **A stack of K same-shaped models trained as one step** with ``torch.func``: the K
   models' parameters are stacked (``torch.func.stack_module_state``), the loss of one model
   is written with ``torch.func.functional_call`` and mapped over the stack with
   ``torch.vmap``; one backward and one Adam update (elementwise, so exactly K independent
   Adams) serve all K models, each on its own minibatch. Compared with K models stepped one
   after another with the same loss and the same optimizer. The loss is a pure-torch mirror
   of the engine's β-TCVAE objective (docs/methods/betatcvae.md, the ``tc`` plugin with
   α = γ = 1):

       loss = −E log p(x|z) + KL(q(z|x) ‖ N(0, I)) + (β − 1)·TC(z),

   per data point, TC by minibatch stratified sampling with the corrected weights of RTC-VAE
   (Cheng et al. 2020; docs/estimators.md: m = M − 1, W[i,i] = 1/N,
   W[i,(i+1) mod M] = (N − m)/(N·m), else 1/m).
   It is not the Pyro model/guide the engine trains (the engine's own step time is printed
   for scale); the benchmark checks that the vectorized step and the loop give the same
   parameters after a few steps before timing them.

Usage (CPU numbers in docs/sweeps.md were taken on 2 cores)::

    python benchmarks/sweep_throughput.py                 # both parts
    python benchmarks/sweep_throughput.py --part vmap --stacks 1 4 16 32
    python benchmarks/sweep_throughput.py --part ray --trials 8 --json out.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, stack_module_state


# --------------------------------------------------------------------- part 2
def mlp_vae(input_dim: int, latent_dim: int, width: int, layers: int = 1) -> nn.ModuleDict:
    """The MLP of Chen et al. 2022, App. B Table 1 (the engine's ``encoder: mlp``)."""
    enc = [nn.Linear(input_dim, width), nn.ReLU()]
    dec = [nn.Linear(latent_dim, width), nn.Tanh()]
    for _ in range(layers):
        enc += [nn.Linear(width, width), nn.ReLU()]
        dec += [nn.Linear(width, width), nn.Tanh()]
    enc.append(nn.Linear(width, 2 * latent_dim))
    dec.append(nn.Linear(width, input_dim))
    return nn.ModuleDict({"encoder": nn.Sequential(*enc), "decoder": nn.Sequential(*dec)})


def mss_log_weights(batch: int, dataset_size: int) -> torch.Tensor:
    """log W of minibatch stratified sampling, Cheng et al. 2020, App. 1.2 ("MSS1";
    docs/estimators.md)."""
    m, n = batch - 1, dataset_size
    w = torch.full((batch, batch), 1.0 / m)
    idx = torch.arange(batch)
    w[idx, idx] = 1.0 / n
    w[idx, (idx + 1) % batch] = (n - m) / (n * m)
    return w.log()


def tcvae_loss(model: nn.Module, x: torch.Tensor, eps: torch.Tensor, log_w: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean per-data-point β-TCVAE loss −ELBO + (β − 1)·TC (module docstring)."""
    h = model["encoder"](x)
    d = h.shape[-1] // 2
    loc, scale = h[..., :d], nn.functional.softplus(h[..., d:]) + 1e-5
    z = loc + scale * eps
    logits = model["decoder"](z)
    nll = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    kl = 0.5 * (loc.pow(2) + scale.pow(2) - 1.0 - 2.0 * scale.log()).sum(-1)
    # L[i, j, d] = log q(z_i,d | x_j)
    lq = -0.5 * ((z[:, None, :] - loc[None]) / scale[None]).pow(2) - scale[None].log() - 0.5 * math.log(2 * math.pi)
    log_qz = torch.logsumexp(lq.sum(-1) + log_w, dim=1)
    log_prod = torch.logsumexp(lq + log_w[..., None], dim=1).sum(-1)
    tc = (log_qz - log_prod).mean()
    return (nll + kl).mean() + (beta - 1.0) * tc


def make_batches(data: torch.Tensor, k: int, batch: int, steps: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [data[torch.randint(len(data), (k, batch), generator=g)] for _ in range(steps)]


def loop_steps(models, opts, batches, noises, log_w, beta):
    for xb, eb in zip(batches, noises):
        for j, (model, opt) in enumerate(zip(models, opts)):
            loss = tcvae_loss(model, xb[j], eb[j], log_w, beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def vmap_steps(base, params, opt, batches, noises, log_w, beta):
    def one(p, x, e):
        return tcvae_loss_functional(base, p, x, e, log_w, beta)

    batched = torch.vmap(one)
    for xb, eb in zip(batches, noises):
        loss = batched(params, xb, eb).sum()  # models are independent: ∂sum/∂θ_k = ∂loss_k/∂θ_k
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def tcvae_loss_functional(base, p, x, e, log_w, beta):
    class _View:
        def __getitem__(self, name):
            sub = {k.split(".", 1)[1]: v for k, v in p.items() if k.startswith(name + ".")}
            return lambda inp: functional_call(base[name], sub, (inp,))

    return tcvae_loss(_View(), x, e, log_w, beta)


def bench_vmap(stacks, width, latent, batch, steps, beta, threads, repeats=3):
    from pyrodisent.data.dsprites import generated_dsprites

    torch.set_num_threads(threads)
    ds = generated_dsprites(scales=2, orientations=4, positions=8)
    data = ds.images.reshape(len(ds), -1).float()
    n_input, dataset_size = data.shape[1], len(ds)
    log_w = mss_log_weights(batch, dataset_size)
    rows = []
    # correctness: vmap and loop give the same parameters after 3 steps
    k = 3
    models = [mlp_vae(n_input, latent, width) for _ in range(k)]
    for i, m in enumerate(models):
        torch.manual_seed(i)
        for p in m.parameters():
            nn.init.normal_(p, std=0.05)
    xs = make_batches(data, k, batch, 3, seed=1)
    es = [torch.randn(k, batch, latent, generator=torch.Generator().manual_seed(10 + s)) for s in range(3)]
    loop_models = copy.deepcopy(models)
    loop_opts = [torch.optim.Adam(m.parameters(), lr=1e-3, foreach=True) for m in loop_models]
    loop_steps(loop_models, loop_opts, xs, es, log_w, beta)
    params, _ = stack_module_state(copy.deepcopy(models))
    params = {n: p.detach().clone().requires_grad_(True) for n, p in params.items()}
    opt = torch.optim.Adam(params.values(), lr=1e-3, foreach=True)
    base = copy.deepcopy(models[0]).to("meta")
    vmap_steps(base, params, opt, xs, es, log_w, beta)
    worst = max(
        (params[n][j] - p).abs().max().item()
        for j, m in enumerate(loop_models) for n, p in m.named_parameters()
    )
    print(f"vmap vs loop after 3 Adam steps: max |Δθ| = {worst:.2e}")
    assert worst < 1e-4, "the vectorized step does not reproduce the loop"
    for k in stacks:
        models = [mlp_vae(n_input, latent, width) for _ in range(k)]
        xs = make_batches(data, k, batch, steps + 2, seed=2)
        es = [torch.randn(k, batch, latent, generator=torch.Generator().manual_seed(100 + s)) for s in range(steps + 2)]
        loop_opts = [torch.optim.Adam(m.parameters(), lr=1e-3, foreach=True) for m in models]
        loop_steps(models, loop_opts, xs[:2], es[:2], log_w, beta)  # warm-up
        t_loop = min(_timed(lambda: loop_steps(models, loop_opts, xs[2:], es[2:], log_w, beta)) for _ in range(repeats))
        params, _ = stack_module_state(models)
        params = {n: p.detach().clone().requires_grad_(True) for n, p in params.items()}
        opt = torch.optim.Adam(params.values(), lr=1e-3, foreach=True)
        base = copy.deepcopy(models[0]).to("meta")
        vmap_steps(base, params, opt, xs[:2], es[:2], log_w, beta)
        t_vmap = min(_timed(lambda: vmap_steps(base, params, opt, xs[2:], es[2:], log_w, beta)) for _ in range(repeats))
        row = {
            "models": k,
            "loop_ms_per_round": 1000 * t_loop / steps,
            "vmap_ms_per_step": 1000 * t_vmap / steps,
            "loop_model_steps_per_s": k * steps / t_loop,
            "vmap_model_steps_per_s": k * steps / t_vmap,
            "speedup": t_loop / t_vmap,
        }
        rows.append(row)
        print(f"K={k:3d}: loop {row['loop_ms_per_round']:8.1f} ms/round  vmap {row['vmap_ms_per_step']:8.1f} ms/step  "
              f"(model-steps/s: vmap {row['vmap_model_steps_per_s']:6.1f}, loop {row['loop_model_steps_per_s']:6.1f})  "
              f"speed-up ×{row['speedup']:.2f}", flush=True)
    return rows


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def engine_step_ms(width, latent, batch, beta, steps, threads) -> float:
    """The engine's own step (Pyro model/guide + tc plugin) on the same model, for scale."""
    from pyrodisent.engine import Trainer

    torch.set_num_threads(threads)
    config = {
        "seed": 0, "device": "cpu",
        "model": {"name": "vae", "encoder": "mlp", "latent_dim": latent, "hidden_width": width, "hidden_layers": 1},
        "data": {"name": "generated_dsprites", "options": {"scales": 2, "orientations": 4, "positions": 8}},
        "regularizers": [{"name": "tc", "beta": beta}],
        "train": {"steps": steps + 5, "batch_size": batch},
    }
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, tmp, progress=False)
        trainer._setup()
        import pyro

        pyro.enable_validation(False)
        for _ in range(5):
            trainer.train_step()
        t = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        return 1000 * (time.perf_counter() - t) / steps


# --------------------------------------------------------------------- part 1
def sweep_file(trials: int, steps: int, width: int) -> dict:
    return {
        "name": "throughput",
        "base": {
            "seed": 0, "device": "cpu",
            "model": {"name": "vae", "encoder": "mlp", "latent_dim": 8, "hidden_width": width, "hidden_layers": 1},
            "data": {"name": "generated_dsprites", "options": {"scales": 2, "orientations": 4, "positions": 8}},
            "regularizers": [{"name": "grouped_tc", "beta": 6.0, "grouping_factor": 2}],
            "train": {"steps": steps, "batch_size": 64, "log_every": 50, "checkpoint_every": steps, "image_every": 0},
        },
        "seeds": trials,
    }


def bench_ray(trials: int, steps: int, width: int, cpus: int) -> list[dict]:
    import ray

    from pyrodisent.sweep.runner import run_sweep
    from pyrodisent.sweep.spec import parse_sweep

    rows = []
    root = Path(tempfile.mkdtemp(prefix="sweep_throughput_"))
    try:
        data = sweep_file(trials, steps, width)
        t = time.perf_counter()
        run_sweep(parse_sweep(data), root / "serial", use_ray=False, log=None)
        rows.append(_ray_row("one process, one trial at a time (--no-ray)", trials, time.perf_counter() - t))
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        for label, per_trial in ((f"Ray, one trial at a time (num_cpus: {cpus})", cpus),
                                 (f"Ray, {cpus} trials packed (num_cpus: 1)", 1)):
            spec = parse_sweep({**data, "resources": {"num_cpus": per_trial}})
            warm = parse_sweep({**data, "seeds": [1000 + i for i in range(cpus)], "resources": {"num_cpus": 1}})
            run_sweep(warm, root / f"warm{per_trial}", log=None)  # start and import in every worker
            t = time.perf_counter()
            run_sweep(spec, root / f"ray{per_trial}", log=None)
            rows.append(_ray_row(label, trials, time.perf_counter() - t))
        ray.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for row in rows:
        print(f"{row['setting']:<48} {row['seconds']:7.1f} s for {trials} trials = {row['trials_per_hour']:7.0f} trials/hour")
    return rows


def _ray_row(label: str, trials: int, seconds: float) -> dict:
    return {"setting": label, "trials": trials, "seconds": seconds, "trials_per_hour": 3600 * trials / seconds}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=("all", "vmap", "ray"), default="all")
    p.add_argument("--stacks", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    p.add_argument("--width", type=int, default=100, help="hidden width (a β-STCVAE capacity, Chen et al. 2022)")
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20, help="timed steps per setting (vmap part)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--trials", type=int, default=8, help="trials per sweep (Ray part)")
    p.add_argument("--trial-steps", type=int, default=200)
    p.add_argument("--json", help="write the numbers here")
    args = p.parse_args(argv)
    out = {"machine": f"CPU, {os.cpu_count()} cores, torch {torch.__version__}", "args": vars(args)}
    print(out["machine"])
    if args.part in ("all", "vmap"):
        out["engine_step_ms"] = engine_step_ms(args.width, args.latent, args.batch, 6.0, args.steps, args.threads)
        print(f"engine (Pyro model/guide + tc plugin), one model: {out['engine_step_ms']:.1f} ms/step")
        out["vmap"] = bench_vmap(args.stacks, args.width, args.latent, args.batch, args.steps, 6.0, args.threads)
    if args.part in ("all", "ray"):
        out["ray"] = bench_ray(args.trials, args.trial_steps, args.width, os.cpu_count() or 1)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
