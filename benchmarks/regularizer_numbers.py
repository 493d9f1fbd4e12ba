"""Record (or compare against a record of) every estimator-based regularizer's numbers.

For a fixed VAE, batch and seed, each case builds a DisentELBO and records the loss, every
logged term (``elbo.last_terms``) and the gradient of every VAE parameter. A refactoring of
the estimators must leave these numbers where they were:

    python benchmarks/regularizer_numbers.py --save before.pt
    ... change the code ...
    python benchmarks/regularizer_numbers.py --compare before.pt

``--compare`` prints, per case, the largest relative difference of the loss, of the logged
terms and of the gradients (max |a − b| / max |b| per tensor, the largest over tensors),
and the terms one side has that the other lacks.
"""

from __future__ import annotations

import argparse

import pyro
import torch

from pyrodisent import DisentELBO
from pyrodisent.models import VAE

N = 1000

CASES: dict[str, list] = {
    **{f"tc[{m}]": [{"name": "tc", "beta": 6.0, "estimator": m}] for m in ("mws", "mss", "mss_chen_code", "is")},
    "tc[alpha=2,gamma=3]": [{"name": "tc", "alpha": 2.0, "beta": 4.0, "gamma": 3.0, "estimator": "is"}],
    "grouped_tc": [{"name": "grouped_tc", "beta": 6.0, "grouping_factor": 2}],
    "grouped_tc[hfvae,is]": [{"name": "grouped_tc", "beta": 5.0, "gamma": 2.0, "groups": [2, 3, 1], "estimator": "is"}],
    "pc": [{"name": "pc", "beta": 4.0, "groups": [2, 2, 2]}],
    "pc[mss,uneven]": [{"name": "pc", "beta": 4.0, "groups": [[0, 3], [1, 4, 5], [2]], "estimator": "mss"}],
    "tc+pc": [{"name": "tc", "beta": 6.0}, {"name": "pc", "beta": 4.0, "groups": [2, 2, 2]}],
    "tc+pc[same estimator]": [
        {"name": "tc", "beta": 6.0, "estimator": "is"},
        {"name": "pc", "beta": 4.0, "groups": [2, 2, 2], "estimator": "is"},
    ],
    "tc+grouped_tc": [{"name": "tc", "beta": 6.0}, {"name": "grouped_tc", "beta": 3.0, "gamma": 0.5}],
    "grouped_tc+pc": [{"name": "grouped_tc", "beta": 3.0}, {"name": "pc", "beta": 4.0, "groups": [3, 3]}],
}


def run_case(regularizers: list) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    vae = VAE((1, 12, 12), latent_dim=6, encoder="mlp", hidden_width=32)
    x = (torch.rand(32, 1, 12, 12) > 0.5).float()
    elbo = DisentELBO(regularizers)
    pyro.set_rng_seed(7)
    loss = elbo.differentiable_loss(vae.model, vae.guide, x, dataset_size=N)
    loss.backward()
    out = {"loss": loss.detach().clone()}
    out.update({f"term/{k}": v.detach().clone() for k, v in elbo.last_terms.items()})
    out.update({f"grad/{k}": p.grad.detach().clone() for k, p in vae.named_parameters() if p.grad is not None})
    return out


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", metavar="FILE")
    group.add_argument("--compare", metavar="FILE")
    args = parser.parse_args()
    results = {name: run_case(regs) for name, regs in CASES.items()}
    if args.save:
        torch.save(results, args.save)
        print(f"saved {len(results)} cases to {args.save}")
        return
    before = torch.load(args.compare, weights_only=True)
    print(f"{'case':24s} {'loss':>10s} {'terms':>10s} {'grads':>10s}  terms only on one side")
    for name, now in results.items():
        old = before[name]
        shared = sorted(set(now) & set(old))
        terms = [k for k in shared if k.startswith("term/")]
        grads = [k for k in shared if k.startswith("grad/")]
        one_side = sorted(set(now) ^ set(old))
        print(
            f"{name:24s} {relative(now['loss'], old['loss']):10.2e} "
            f"{max(relative(now[k], old[k]) for k in terms):10.2e} "
            f"{max(relative(now[k], old[k]) for k in grads):10.2e}  {', '.join(one_side) or '-'}"
        )


if __name__ == "__main__":
    main()
