"""Pairs of observations that share all but k ground-truth factors, drawn on the device.

The weakly-supervised data of Locatello et al. 2020 ("Weakly-Supervised Disentanglement
Without Compromises", §3): a first observation x¹ = g(z) from factors z ~ p(z), and a second
x² = g(z̃) whose factors z̃ equal z except in a set S of k factors, which take new values:

    z   ~ uniform over the factor grid (each factor uniform over its classes)
    k   = the fixed k,  or  k ~ uniform{1, ..., K − 1} per pair     (the paper's "k = Rnd")
    S   ~ uniform over the k-subsets of the K factors
    z̃_j = z_j for j ∉ S,   z̃_j ~ uniform over the other size_j − 1 classes for j ∈ S

so a pair differs in exactly k factors and shares K − k ≥ 1. K counts the factors with at
least two classes (a constant factor can never change). disentanglement_lib's pair
generator (``simple_dynamics``) differs in two ways, both documented in
docs/methods/ada_gvae.md: it changes one factor instead of k in half of the pairs, and it
draws a changed factor's new value over all its classes, the old one included (from the
global NumPy RNG), so its pairs may differ in fewer factors than drawn.

:class:`PairSampler` works for every :class:`~pyrodisent.data.FactorDataset` whose factors
cover their grid: every combination of classes has at least one observation, in any row
order (a full grid in row-major order is looked up arithmetically; otherwise a table from
grid cell to rows picks one of the cell's observations uniformly). All draws use one
``torch.Generator`` on the target device, so a step costs no host synchronisation when
the images live there too, and ``state_dict()`` / ``load_state_dict()`` resume the same
pairs. Pairs are drawn with replacement (an endless stream, as disentanglement_lib's).
``next_batch()`` returns float [B, 2, *observation_shape]: ``batch[:, 0]`` is x¹ and
``batch[:, 1]`` is x².
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pyrodisent.data.base import FactorDataset
from pyrodisent.data.sampler import (
    DEFAULT_DEVICE_FRACTION,
    _device,
    _make_generator,
    _storage,
    _to_float,
    check_sampler_state,
    restore_generator,
)

#: the value of ``k`` that draws k uniformly from 1..K−1 per pair (Locatello et al. 2020, "k = Rnd")
RANDOM_K = "rnd"


def check_k(k, num_factors: int | None = None) -> int | str:
    """``k`` as an int in 1..K−1 (K = ``num_factors`` when known) or ``"rnd"``; a clear error otherwise."""
    if isinstance(k, str) and k.lower() == RANDOM_K:
        return RANDOM_K
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(
            f"k (the number of factors that differ within a pair) must be an int >= 1 or "
            f"{RANDOM_K!r} (uniform in 1..K−1 per pair), got {k!r}"
        )
    if num_factors is not None and k > num_factors - 1:
        raise ValueError(
            f"k={k} leaves no shared factor: the data set has K = {num_factors} factors with "
            f"more than one class, so k must be in 1..{num_factors - 1} (or {RANDOM_K!r})"
        )
    return int(k)


class PairSampler:
    """Pairs (x¹, x²) that differ in exactly k factors (Locatello et al. 2020, §3), drawn with
    an explicit ``torch.Generator`` on ``device`` (module docstring).

    :param dataset: a factor data set whose factors cover their grid.
    :param batch_size: pairs per batch (2 × batch_size observations).
    :param device: where the draws (and, when they fit, the images) live.
    :param generator: an int seed or a ``torch.Generator`` (re-seeded onto ``device`` if it
        lives elsewhere).
    :param k: factors that differ within a pair, an int in 1..K−1, or ``"rnd"``.
    :param max_device_bytes: how much device memory the images may take (default: half the
        free memory of a CUDA device, unlimited on the CPU); images that do not fit, and
        images read lazily from a file, are gathered on the host and copied per batch.
    """

    kind = "pairs"

    def __init__(
        self,
        dataset: FactorDataset,
        batch_size: int,
        device: str | torch.device,
        generator: int | torch.Generator,
        k: int | str = 1,
        max_device_bytes: int | None = None,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if dataset.factors is None:
            raise ValueError(f"{dataset.name} has no ground-truth factors; pairs need a factor data set")
        self.device = _device(device)
        self.batch_size = int(batch_size)
        self.dataset_size = len(dataset)
        self.generator = _make_generator(generator, self.device)
        sizes = np.asarray(dataset.factor_sizes, dtype=np.int64)
        self.factor_sizes = sizes.tolist()
        self.changeable = (sizes > 1).tolist()
        num_changeable = int(sum(self.changeable))
        if num_changeable < 2:
            raise ValueError(
                f"{dataset.name} has {num_changeable} factor(s) with more than one class; a pair "
                "must share one factor and change another, which needs at least two"
            )
        self.num_factors = num_changeable
        self.k = check_k(k, num_changeable)
        self._sizes = torch.as_tensor(sizes, device=self.device)
        self._strides = torch.as_tensor(dataset.grid_strides(), device=self.device)
        self._rows = None if dataset.is_full_grid else _grid_table(dataset, self.device)
        self._images, self._binary, self._on_device = self._place(dataset.images, max_device_bytes)

    def _place(self, images, max_device_bytes):
        """(storage, is_binary, on_device): the images on the device when they fit."""
        if not torch.is_tensor(images):
            return images, False, False  # an array-like read on demand (an HDF5 file)
        if max_device_bytes is None and self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            max_device_bytes = int(free * DEFAULT_DEVICE_FRACTION)
        stored, binary = _storage(images)
        fits = max_device_bytes is None or stored.numel() * stored.element_size() <= max_device_bytes
        return (stored.to(self.device), binary, True) if fits else (stored, binary, False)

    # ------------------------------------------------------------------ draws
    def draw_factors(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """([n, K] factors of x¹, [n, K] factors of x²) on the device: x² equals x¹ in all
        but k factors, which take other classes (module docstring). ``generator``: the
        sampler's own by default."""
        g = self.generator if generator is None else generator
        sizes, dev = self._sizes, self.device
        first = _uniform_int(torch.rand(n, len(sizes), generator=g, device=dev), sizes)
        if self.k == RANDOM_K:
            k = 1 + _uniform_int(torch.rand(n, generator=g, device=dev), self.num_factors - 1)
        else:
            k = torch.full((n,), self.k, device=dev)
        # S: the k factors with the smallest random keys; a constant factor is never chosen
        keys = torch.rand(n, len(sizes), generator=g, device=dev)
        keys = keys.masked_fill(sizes < 2, 2.0)
        rank = keys.argsort(dim=1).argsort(dim=1)
        changed = rank < k.unsqueeze(1)
        # a new class: old + 1 + uniform{0..size−2}, modulo size — never the old one
        shift = 1 + _uniform_int(torch.rand(n, len(sizes), generator=g, device=dev), (sizes - 1).clamp_min(1))
        second = torch.where(changed, (first + shift) % sizes, first)
        return first, second

    def rows(self, factors: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Row indices of observations realising ``factors`` [n, K] (a uniform one among
        several: a grid cell with repeats)."""
        cell = (factors * self._strides).sum(dim=1)
        if self._rows is None:
            return cell
        order, starts, counts = self._rows
        g = self.generator if generator is None else generator
        pick = _uniform_int(torch.rand(len(cell), generator=g, device=self.device), counts[cell])
        return order[starts[cell] + pick]

    def next_indices(self, generator: torch.Generator | None = None, n: int | None = None) -> torch.Tensor:
        """[n, 2] row indices of the next pairs (n = ``batch_size`` by default)."""
        first, second = self.draw_factors(self.batch_size if n is None else n, generator)
        return torch.stack([self.rows(first, generator), self.rows(second, generator)], dim=1)

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """Float observations [n, 2, *shape] of the row indices [n, 2], on the device."""
        flat = index.reshape(-1)
        if self._on_device:
            batch = self._images.index_select(0, flat)
        else:
            batch = self._images[flat.cpu()]
            batch = (batch if torch.is_tensor(batch) else torch.as_tensor(np.asarray(batch))).to(self.device)
        return _to_float(batch, self._binary).unflatten(0, (len(index), 2))

    def next_batch(self) -> torch.Tensor:
        """The next [batch_size, 2, *shape] float pairs."""
        return self.gather(self.next_indices())

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n pairs drawn with ``generator``; the sampler's own stream is left untouched."""
        return self.gather(self.next_indices(generator, n))

    # ------------------------------------------------------------------ state
    def _settings(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "k": self.k,
            "batch_size": self.batch_size,
            "num_items": self.dataset_size,
            "factor_sizes": list(self.factor_sizes),
        }

    def state_dict(self) -> dict[str, Any]:
        return {**self._settings(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_sampler_state(state, self._settings())
        restore_generator(self.generator, state["generator"])


def make_pair_sampler(
    dataset: FactorDataset,
    batch_size: int,
    device: str | torch.device,
    generator: int | torch.Generator,
    k: int | str = 1,
    max_device_bytes: int | None = None,
) -> PairSampler:
    """The :class:`PairSampler` of ``dataset`` (the pair counterpart of
    :func:`~pyrodisent.data.sampler.make_batch_sampler`)."""
    return PairSampler(dataset, batch_size, device, generator, k=k, max_device_bytes=max_device_bytes)


def _uniform_int(u: torch.Tensor, sizes) -> torch.Tensor:
    """floor(u · size) for u ~ U[0, 1): a uniform class in 0..size−1 (clamped against the
    float rounding of u · size up to size)."""
    sizes = torch.as_tensor(sizes, device=u.device)
    return torch.minimum((u * sizes).long(), sizes - 1)


def _grid_table(dataset: FactorDataset, device: torch.device):
    """(order, starts, counts) on ``device``: the rows of grid cell c are
    ``order[starts[c] : starts[c] + counts[c]]``. Every cell must hold an observation."""
    cells = dataset.factors @ dataset.grid_strides()
    total = int(np.prod(dataset.factor_sizes))
    counts = np.bincount(cells, minlength=total)
    missing = int((counts == 0).sum())
    if missing:
        raise ValueError(
            f"{dataset.name}: {missing} of the {total} factor combinations have no observation; "
            "pairs that change k factors need every combination (a complete factor grid)"
        )
    order = np.argsort(cells, kind="stable")
    starts = np.cumsum(counts) - counts
    return tuple(torch.as_tensor(a, device=device) for a in (order, starts, counts))
