"""Built-in latent priors, registered through the public ``pyrodisent_priors`` hook.

Every factory has the signature ``factory(latent_dim, device=None, **options)`` and returns
a Pyro distribution with ``event_shape == (latent_dim,)``:

- ``normal`` — N(0, I).
- ``logcosh`` — Π_k Logistic(0, √3/π), the nonlinear-ICA prior (PDisVAE, anonymous ICLR
  submission, §2.2).
- ``lp_nested`` — ISA-VAE's L^p-nested prior (Stühmer et al. 2020; docs/guides_priors.md).
  Options: ``p0``, ``scale`` and either ``groups`` (``[[p_j, n_j], ...]``, nested lists for deeper
  trees, dims adding up to ``latent_dim``) or ``group_size`` + ``p`` for equal groups. Config:
  ``prior: {lp_nested: {p0: 2.0, groups: [[2.1, 6], [2.1, 6], [2.1, 6]], scale: 1.0}}``.
"""

from __future__ import annotations

import pyro.distributions as dist
import torch

from pyrodisent import hookimpl
from pyrodisent.distributions import LpNested, logcosh_prior
from pyrodisent.validation import check_int


def normal_prior(latent_dim: int, device=None) -> dist.Independent:
    """N(0, I) over ``latent_dim`` dims."""
    zeros = torch.zeros(check_int("latent_dim", latent_dim, 1), device=device)
    return dist.Normal(zeros, torch.ones_like(zeros)).to_event(1)


def logcosh(latent_dim: int, device=None) -> dist.Independent:
    """Π_k Logistic(0, √3/π) (PDisVAE, §2.2)."""
    return logcosh_prior(check_int("latent_dim", latent_dim, 1), device=device)


def lp_nested_prior(
    latent_dim: int,
    device=None,
    p0: float = 2.0,
    groups=None,
    scale: float = 1.0,
    group_size: int | None = None,
    p: float | None = None,
) -> LpNested:
    """LpNested(p0, groups, scale) whose dims must add up to ``latent_dim``."""
    latent_dim = check_int("latent_dim", latent_dim, 1)
    if groups is None:
        if group_size is None or p is None:
            raise ValueError(
                "lp_nested prior: give groups=[[p_j, n_j], ...] or group_size=<n> with p=<exponent>"
            )
        check_int("lp_nested prior: group_size", group_size, 1)
        if latent_dim % group_size:
            raise ValueError(
                f"lp_nested prior: group_size must divide latent_dim={latent_dim}, got {group_size!r}"
            )
        groups = [[p, group_size]] * (latent_dim // group_size)
    elif group_size is not None or p is not None:
        raise ValueError("lp_nested prior: give either groups or group_size/p, not both")
    prior = LpNested(p0, groups, scale=torch.tensor(float(scale), device=device))
    if prior.latent_dim != latent_dim:
        raise ValueError(
            f"lp_nested prior: the groups cover {prior.latent_dim} dims but latent_dim is "
            f"{latent_dim}; "
            f"groups={groups!r}"
        )
    return prior


@hookimpl
def pyrodisent_priors():
    return {"normal": normal_prior, "logcosh": logcosh, "lp_nested": lp_nested_prior}
