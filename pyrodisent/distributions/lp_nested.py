"""The L^p-nested prior of ISA-VAE (Stühmer et al. 2020; PDisVAE, an anonymous ICLR submission,
§2.2; Sinz & Bethge 2010).

An L^p-nested function is a tree: every inner node I with exponent p_I and children k
computes f_I = (Σ_k v_k^{p_I})^{1/p_I}, where a child's value v_k is |z_i| for a leaf and
f_k for an inner node. For the two-level ISA tree (root p0 over l0 groups V_j of n_j dims
with exponents p_j):

    f(z) = (Σ_j (Σ_{i∈V_j} |z_i|^{p_j})^{p0/p_j})^{1/p0}

The density is p(z) = ϱ(f(z)) / (f(z)^{n−1} S_f(1)) with the radial law r^{p0}/s ~ Gamma(n/p0, 1)
and the surface of the unit f-sphere (Sinz & Bethge 2010)

    S_f(1) = 2^n Π_I [Π_k Γ(n_{I,k}/p_I)] / [p_I^{l_I − 1} Γ(n_I/p_I)],

which gives, for any tree (n_I leaves under node I, l_I children, n_{I,k} under child k),

    log p(z) = log p0 − (n/p0) log s − lnΓ(n/p0) − log S_f(1) − f(z)^{p0}/s,

and for the ISA tree exactly

    log p(z) = l0 log p0 − n log 2 − (n/p0) log s − Σ_j lnΓ(n_j/p0)
             + Σ_j [(n_j − 1) log p_j + lnΓ(n_j/p_j) − n_j lnΓ(1/p_j)] − f(z)^{p0}/s.

Because exp(−f^{p0}/s) = Π_k exp(−f_k^{p0}/s) over the root's children, the prior factorizes
over those groups (not over dims): :meth:`LpNested.group_log_prob` gives the group marginals.

Sampling (Sinz & Bethge 2010): start at the root with radius 1; at every inner node draw
u ~ Dirichlet(n_{I,k}/p_I over its children) and give child k the radius r·u_k^{1/p_I}; a leaf
gets a random sign. That is uniform on the unit f-sphere; then z ← z·(s·G)^{1/p0} with
G ~ Gamma(n/p0, 1). With one group, p0 = p = 2 and s = 2 the prior is N(0, I).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import torch
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions import constraints


@dataclass(frozen=True)
class _Node:
    """An inner node: exponent ``p`` over ``children`` (ints are runs of leaves)."""

    p: float
    children: tuple  # of int (a run of leaves) or _Node
    start: int  # first leaf index (leaves are numbered depth-first)
    size: int  # number of leaves below

    @property
    def child_sizes(self) -> list[int]:
        sizes = []
        for child in self.children:
            sizes += [1] * child if isinstance(child, int) else [child.size]
        return sizes

    def inner_nodes(self):
        yield self
        for child in self.children:
            if isinstance(child, _Node):
                yield from child.inner_nodes()

    def power_sum(self, z: torch.Tensor) -> torch.Tensor:
        """S_I = Σ_k v_k^{p_I} = f_I(z)^{p_I}."""
        total = None
        offset = self.start
        for child in self.children:
            if isinstance(child, int):
                term = z[..., offset : offset + child].abs().pow(self.p).sum(-1)
                offset += child
            else:
                term = child.power_sum(z).pow(self.p / child.p)
                offset += child.size
            total = term if total is None else total + term
        return total

    def sample_unit(self, radius: torch.Tensor, out: torch.Tensor, generator) -> None:
        """Fill ``out[..., leaves]`` with |z| uniform on {f_I = radius} (Dirichlet recursion)."""
        sizes = self.child_sizes
        alpha = torch.tensor([n / self.p for n in sizes], dtype=radius.dtype, device=radius.device)
        gamma = torch._standard_gamma(
            alpha.expand(radius.shape + alpha.shape).contiguous(), generator=generator
        )
        u = gamma / gamma.sum(-1, keepdim=True)
        child_radius = radius[..., None] * u.pow(1.0 / self.p)
        k = 0
        offset = self.start
        for child in self.children:
            if isinstance(child, int):
                out[..., offset : offset + child] = child_radius[..., k : k + child]
                k += child
                offset += child
            else:
                child.sample_unit(child_radius[..., k], out, generator)
                k += 1
                offset += child.size


Tree = Union[int, Sequence]


def _check_exponent(p, where: str) -> float:
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: the exponent p must be a number > 0, got {p!r}") from None
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{where}: the exponent p must be a finite number > 0, got {value}")
    return value


def _build(p, children, start: int, where: str) -> _Node:
    p = _check_exponent(p, where)
    if isinstance(children, bool):
        raise ValueError(f"{where}: children must be an int (leaves) or a list, got {children!r}")
    if isinstance(children, int):
        children = [children]
    if not isinstance(children, (list, tuple)) or len(children) == 0:
        raise ValueError(
            f"{where}: children must be a positive int (a number of leaves) or a non-empty list "
            f"of ints and (p, children) pairs, got {children!r}"
        )
    built = []
    offset = start
    for k, child in enumerate(children):
        here = f"{where}[{k}]"
        if isinstance(child, int) and not isinstance(child, bool):
            if child < 1:
                raise ValueError(f"{here}: a number of leaves must be >= 1, got {child}")
            built.append(child)
            offset += child
        elif isinstance(child, (list, tuple)) and len(child) == 2:
            node = _build(child[0], child[1], offset, here)
            built.append(node)
            offset += node.size
        else:
            raise ValueError(
                f"{here}: expected an int (leaves) or a (p, children) pair such as (2.0, 4), "
                f"got {child!r}"
            )
    return _Node(p, tuple(built), start, offset - start)


class LpNested(TorchDistribution):
    r"""L^p-nested symmetric distribution with radial law f^{p0}/s ~ Gamma(n/p0, 1).

    :param p0: the root exponent.
    :param groups: the root's children: ``(p_j, n_j)`` for a group of n_j dims with exponent
        p_j (the ISA tree), or, for deeper trees, ``(p_j, [children...])`` recursively; a bare
        int is that many leaves directly under the parent. Leaves are numbered depth-first.
    :param scale: s > 0 (a number or a tensor that sets the batch shape).

    ``LpNested(2.0, groups=[(2.1, 6)] * 3, scale=1.0)`` is ISA-VAE's prior over 18 dims.
    """

    arg_constraints = {"scale": constraints.positive}
    support = constraints.real_vector
    has_rsample = False

    def __init__(self, p0: float, groups: Sequence, scale=1.0, *, validate_args=None):
        self.root = _build(p0, list(groups) if not isinstance(groups, int) else groups, 0, "groups")
        self.p0 = self.root.p
        if not torch.is_tensor(scale):
            try:
                value = float(scale)
            except (TypeError, ValueError):
                raise ValueError(f"scale must be a number > 0, got {scale!r}") from None
            if not value > 0:
                raise ValueError(f"scale must be > 0, got {value}")
            scale = torch.tensor(value)
        self.scale = scale
        n = self.root.size
        self._log_normalizer = self._tree_log_normalizer(self.root)
        super().__init__(scale.shape, torch.Size([n]), validate_args=validate_args)

    # ------------------------------------------------------------ structure
    @property
    def latent_dim(self) -> int:
        return self.root.size

    @property
    def groups(self) -> list[list[int]]:
        """The dims of each of the root's children (the independent groups)."""
        out, offset = [], 0
        for child in self.root.children:
            size = 1 if isinstance(child, int) else child.size
            for _ in range(child if isinstance(child, int) else 1):
                out.append(list(range(offset, offset + size)))
                offset += size
        return out

    @staticmethod
    def _log_surface(root: _Node) -> float:
        """log S_f(1) = n log 2 + Σ_I [Σ_k lnΓ(n_{I,k}/p_I) − (l_I − 1) log p_I − lnΓ(n_I/p_I)]."""
        total = root.size * math.log(2.0)
        for node in root.inner_nodes():
            sizes = node.child_sizes
            total += sum(math.lgamma(n / node.p) for n in sizes)
            total -= (len(sizes) - 1) * math.log(node.p) + math.lgamma(node.size / node.p)
        return total

    @classmethod
    def _tree_log_normalizer(cls, root: _Node) -> float:
        """log p0 − lnΓ(n/p0) − log S_f(1): everything but the scale and f terms."""
        return math.log(root.p) - math.lgamma(root.size / root.p) - cls._log_surface(root)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LpNested, _instance)
        batch_shape = torch.Size(batch_shape)
        new.root, new.p0, new._log_normalizer = self.root, self.p0, self._log_normalizer
        new.scale = self.scale.expand(batch_shape)
        super(LpNested, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    # ----------------------------------------------------------- densities
    def nested_norm(self, z: torch.Tensor) -> torch.Tensor:
        """f(z), shape z.shape[:-1]."""
        return self.root.power_sum(z).pow(1.0 / self.p0)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log p0 − (n/p0) log s − lnΓ(n/p0) − log S_f(1) − f(z)^{p0}/s (module docstring)."""
        if self._validate_args:
            self._validate_sample(value)
        n = self.latent_dim
        scale = self.scale.to(value.device, value.dtype)
        return (
            self._log_normalizer - (n / self.p0) * scale.log() - self.root.power_sum(value) / scale
        )

    def group_log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """[..., l0] log-densities of the root's children (the groups), which are independent;
        each is the L^p-nested density of the one-child tree (p0, [child]). Sums to log_prob."""
        scale = self.scale.to(value.device, value.dtype)
        out = []
        offset = 0
        for child in self.root.children:
            runs = [1] * child if isinstance(child, int) else [child]
            for item in runs:
                size = 1 if isinstance(item, int) else item.size
                sub = _Node(
                    self.p0, (item if isinstance(item, int) else _shift(item, -offset),), 0, size
                )
                zs = value[..., offset : offset + size]
                log_norm = self._tree_log_normalizer(sub)
                out.append(log_norm - (size / self.p0) * scale.log() - sub.power_sum(zs) / scale)
                offset += size
        return torch.stack(out, -1)

    @property
    def mean(self) -> torch.Tensor:
        return torch.zeros(
            self.batch_shape + self.event_shape, dtype=self.scale.dtype, device=self.scale.device
        )

    # ------------------------------------------------------------- sampling
    def sample(
        self, sample_shape=torch.Size(), generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Uniform on the unit f-sphere (Dirichlet recursion), signs, radius (s·G)^{1/p0}."""
        shape = self._extended_shape(sample_shape)
        scale = self.scale.expand(shape[:-1])
        dtype, device = (scale.dtype if scale.is_floating_point() else torch.float32), scale.device
        with torch.no_grad():
            ones = torch.ones(shape[:-1], dtype=dtype, device=device)
            z = torch.empty(shape, dtype=dtype, device=device)
            self.root.sample_unit(ones, z, generator)
            signs = torch.randint(0, 2, shape, generator=generator, device=device).to(dtype) * 2 - 1
            gamma = torch._standard_gamma(
                torch.full(shape[:-1], self.latent_dim / self.p0, dtype=dtype, device=device),
                generator=generator,
            )
            radius = (scale.to(dtype) * gamma).pow(1.0 / self.p0)
            return z * signs * radius[..., None]


def _shift(node: _Node, delta: int) -> _Node:
    """The same subtree with leaf indices moved by ``delta``."""
    children = tuple(c if isinstance(c, int) else _shift(c, delta) for c in node.children)
    return _Node(node.p, children, node.start + delta, node.size)
