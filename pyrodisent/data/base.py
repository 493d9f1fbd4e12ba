"""The factor-aware dataset interface shared by training and every metric.

A :class:`FactorDataset` holds images (or vectors) with their ground-truth factors on a
full or partial grid. The metrics (docs/metrics.md) need to sample factor configurations and
observations that realise them; training needs random batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class FactorDataset:
    """Observations with integer factor classes.

    :param images: [N, C, H, W] (or [N, *shape]) tensor; uint8 or bool is kept as is and
        scaled to [0, 1] floats by :meth:`batch_to_float`, floats are used unchanged.
    :param factors: [N, K] integer factor classes (``None`` for unlabelled data).
    :param factor_names: K names; ``factor_sizes``: K class counts.
    :param factor_values: optional list of K arrays mapping class → physical value.
    :param name: the registry name, for messages.

    When the observations cover the complete factor grid (every combination once, in
    row-major order with the last factor fastest, like dSprites), index ↔ factor conversion
    is arithmetic; otherwise a look-up table from factor tuples to the matching rows is used.
    """

    def __init__(
        self,
        images: torch.Tensor,
        factors: np.ndarray | torch.Tensor | None,
        factor_names: Sequence[str] = (),
        factor_sizes: Sequence[int] = (),
        factor_values: Sequence[np.ndarray] | None = None,
        name: str = "dataset",
    ):
        if not torch.is_tensor(images):
            images = torch.as_tensor(np.asarray(images))
        self.images = images
        self.name = name
        self.factor_names = list(factor_names)
        self.factor_sizes = [int(s) for s in factor_sizes]
        if factors is None:
            self.factors = None
        else:
            self.factors = np.asarray(factors.cpu() if torch.is_tensor(factors) else factors).astype(np.int64)
            if self.factors.ndim != 2 or self.factors.shape[0] != images.shape[0]:
                raise ValueError(
                    f"{name}: factors must be [N, K] with N = {images.shape[0]}; got {self.factors.shape}"
                )
            if len(self.factor_names) != self.factors.shape[1] or len(self.factor_sizes) != self.factors.shape[1]:
                raise ValueError(
                    f"{name}: {self.factors.shape[1]} factor columns but {len(self.factor_names)} "
                    f"names and {len(self.factor_sizes)} sizes"
                )
        self.factor_values = list(factor_values) if factor_values is not None else None
        self._lookup: dict[tuple[int, ...], np.ndarray] | None = None
        self._full_grid: bool | None = None

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    @property
    def is_full_grid(self) -> bool:
        """True when row i holds the i-th factor combination in row-major order (last factor
        fastest), so index ↔ factor conversion is arithmetic. Checked on the factors
        themselves once (a shuffled or duplicated grid of the right size is not a full grid)."""
        if self._full_grid is None:
            self._full_grid = (
                self.factors is not None
                and len(self) == int(np.prod(self.factor_sizes))
                and bool(np.array_equal(self.factors @ self.grid_strides(), np.arange(len(self))))
            )
        return self._full_grid

    def grid_strides(self) -> np.ndarray:
        """Row-major strides of the factor grid: index = factors @ bases."""
        return np.cumprod([1] + self.factor_sizes[::-1])[:-1][::-1].astype(np.int64)

    @staticmethod
    def batch_to_float(batch: torch.Tensor) -> torch.Tensor:
        """uint8 → [0, 1] float32; bool → float32; floats unchanged."""
        if batch.dtype == torch.uint8:
            return batch.float().div_(255.0)
        if batch.dtype == torch.bool:
            return batch.float()
        return batch

    def _require_factors(self) -> np.ndarray:
        if self.factors is None:
            raise ValueError(f"{self.name} has no ground-truth factors; metrics need a factor dataset")
        return self.factors

    # ---------------------------------------------------------------- factors
    def sample_factors(self, n: int, random_state: np.random.RandomState | int | None) -> np.ndarray:
        """[n, K] factor classes drawn uniformly per factor (from the data's rows if the grid is partial)."""
        rs = _random_state(random_state)
        factors = self._require_factors()
        if self.is_full_grid:
            return np.stack([rs.randint(size, size=n) for size in self.factor_sizes], axis=1)
        return factors[rs.randint(len(self), size=n)]

    def factors_to_index(self, factors: np.ndarray) -> np.ndarray:
        """Row indices of the observations realising ``factors`` [n, K] (first match on a partial grid)."""
        factors = np.asarray(factors, dtype=np.int64)
        if self.is_full_grid:
            return factors @ self.grid_strides()
        table = self._lookup_table()
        try:
            return np.array([table[tuple(f)][0] for f in factors])
        except KeyError as exc:
            raise ValueError(f"{self.name}: no observation has factors {exc.args[0]}") from None

    def index_to_factors(self, index: np.ndarray) -> np.ndarray:
        return self._require_factors()[np.asarray(index)]

    def _lookup_table(self) -> dict[tuple[int, ...], np.ndarray]:
        if self._lookup is None:
            table: dict[tuple[int, ...], list[int]] = {}
            for i, row in enumerate(self._require_factors()):
                table.setdefault(tuple(int(v) for v in row), []).append(i)
            self._lookup = {k: np.array(v) for k, v in table.items()}
        return self._lookup

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState | int | None
    ) -> torch.Tensor:
        """Float observations realising ``factors`` (a random match where several exist)."""
        factors = np.asarray(factors, dtype=np.int64)
        if self.is_full_grid:
            index = self.factors_to_index(factors)
        else:
            rs = _random_state(random_state)
            table = self._lookup_table()
            index = np.array([rs.choice(table[tuple(int(v) for v in f)]) for f in factors])
        return self.batch_to_float(self.images[torch.as_tensor(index)])

    def sample(self, n: int, random_state) -> tuple[np.ndarray, torch.Tensor]:
        """(factors, observations) for n random factor configurations."""
        f = self.sample_factors(n, random_state)
        return f, self.sample_observations_from_factors(f, random_state)


def _random_state(random_state) -> np.random.RandomState:
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if random_state is None:
        raise ValueError("pass an explicit random_state (an int seed or np.random.RandomState)")
    return np.random.RandomState(random_state)
