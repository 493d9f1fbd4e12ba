"""Shared pieces of the metrics: histogram discretization, plug-in mutual information,
random states, and drawing (codes, factors) from a representation and a FactorDataset.

Conventions (disentanglement_lib's; docs/metrics.md): ``codes`` is [n, D] and ``factors`` is
[n, K] (rows are points; the reference stores the transpose). Mutual information and
entropy are plug-in estimates in nats.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch

from pyrodisent.data import FactorDataset
from pyrodisent.estimators import normalize_groups
from pyrodisent.validation import check_int

#: the reference's number of equal-width histogram bins per code dimension (MIG, modularity)
NUM_BINS = 20
#: the reference's batch size when drawing points (keeps the random stream identical)
SAMPLE_BATCH_SIZE = 16


# --------------------------------------------------------------------------- checks
def check_random_state(random_state) -> np.random.RandomState:
    """An explicit seed or ``np.random.RandomState``; no global RNG (``None`` is refused)."""
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if random_state is None or isinstance(random_state, bool):
        raise ValueError("random_state must be an int seed or np.random.RandomState, got None")
    if isinstance(random_state, (int, np.integer)):
        return np.random.RandomState(int(random_state))
    raise ValueError(
        f"random_state must be an int seed or np.random.RandomState, got {random_state!r}"
    )


def check_codes(codes, name: str = "codes") -> np.ndarray:
    """[n, D] float64 array from a tensor or array-like."""
    if torch.is_tensor(codes):
        codes = codes.detach().cpu().numpy()
    arr = np.asarray(codes, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise ValueError(f"{name} must be an [n >= 2, D] array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_posterior(loc, scale) -> tuple[np.ndarray, np.ndarray]:
    """(loc, scale) [n, D] float64 of diagonal Gaussian posteriors; scale > 0, same shape."""
    loc = check_codes(loc, "loc")
    scale = check_codes(scale, "scale")
    if scale.shape != loc.shape or np.any(scale <= 0):
        raise ValueError(
            f"scale must be positive with the shape of loc {loc.shape}, got shape {scale.shape}"
        )
    return loc, scale


def check_factors(factors, n: int | None = None, name: str = "factors") -> np.ndarray:
    """[n, K] integer factor classes (discrete factors, as in the reference)."""
    if torch.is_tensor(factors):
        factors = factors.detach().cpu().numpy()
    arr = np.asarray(factors)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be an [n, K] array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but the codes have {n}")
    if not np.issubdtype(arr.dtype, np.integer):
        rounded = np.rint(arr)
        if not np.array_equal(rounded, arr):
            raise ValueError(
                f"{name} must hold integer classes (discrete factors); got non-integer values"
            )
        arr = rounded
    return arr.astype(np.int64)


def default_jobs() -> int:
    """Threads for per-factor fits: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------- discretization
def histogram_discretize(codes: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Per dimension, the bin index in ``num_bins`` equal-width bins over [min, max].

    Same as the reference: ``np.digitize(c, np.histogram(c, num_bins)[1][:-1])``, i.e. bins
    1..num_bins, the right edge included in the last bin. Vectorized over dimensions.
    """
    codes = np.asarray(codes, dtype=np.float64)
    check_int("num_bins", num_bins, 1)
    out = np.empty(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, d], num_bins)[:-1]
        out[:, d] = np.searchsorted(edges, codes[:, d], side="right")
    return out


def _relabel(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels mapped to 0..L-1 (order-preserving) and L."""
    uniques, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(-1), len(uniques)


def discrete_mutual_information_pair(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in I(a; b) = Σ p(a,b) log p(a,b) / (p(a) p(b)) in nats (sklearn's mutual_info_score)."""
    ia, na = _relabel(a)
    ib, nb = _relabel(b)
    n = ia.shape[0]
    joint = np.bincount(ia * nb + ib, minlength=na * nb).reshape(na, nb).astype(np.float64)
    nz = joint > 0
    pab = joint[nz] / n
    pa = joint.sum(1) / n
    pb = joint.sum(0) / n
    outer = np.outer(pa, pb)[nz]
    return float(max(np.sum(pab * (np.log(pab) - np.log(outer))), 0.0))


def discrete_mutual_information(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """[D, K] matrix of plug-in I(code_d; factor_k) between discrete columns (nats)."""
    codes = np.asarray(codes)
    factors = np.asarray(factors)
    out = np.zeros((codes.shape[1], factors.shape[1]))
    relabeled_f = [_relabel(factors[:, k]) for k in range(factors.shape[1])]
    n = codes.shape[0]
    for d in range(codes.shape[1]):
        ic, nc = _relabel(codes[:, d])
        pc = np.bincount(ic, minlength=nc) / n
        for k, (ik, nk) in enumerate(relabeled_f):
            joint = np.bincount(ic * nk + ik, minlength=nc * nk).reshape(nc, nk) / n
            pk = joint.sum(0)
            nz = joint > 0
            mi = np.sum(joint[nz] * (np.log(joint[nz]) - np.log(np.outer(pc, pk)[nz])))
            out[d, k] = max(mi, 0.0)
    return out


def discrete_entropy(labels: np.ndarray) -> np.ndarray:
    """Plug-in entropy in nats of each column of ``labels`` [n, K] → [K]."""
    labels = np.asarray(labels)
    out = np.zeros(labels.shape[1])
    for k in range(labels.shape[1]):
        i, m = _relabel(labels[:, k])
        p = np.bincount(i, minlength=m) / labels.shape[0]
        p = p[p > 0]
        out[k] = -np.sum(p * np.log(p))
    return out


def joint_labels(discrete: np.ndarray) -> np.ndarray:
    """One label per row for the tuple of discrete columns (a joint histogram cell)."""
    discrete = np.asarray(discrete)
    if discrete.shape[1] == 1:
        return discrete[:, 0]
    return np.unique(discrete, axis=0, return_inverse=True)[1].reshape(-1)


# ---------------------------------------------------------------- representation
class Representation:
    """What a metric sees of a model: ``codes = representation(x)`` (numpy [B, D]).

    :param encode: ``x -> (loc, scale)`` (e.g. ``model.encode``), or ``None`` when only
        codes are known (then pass ``represent``).
    :param represent: ``x -> codes`` used when ``encode`` is None.
    :param sampled: codes are z ~ q(z|x) = loc + scale·ε instead of the mean ``loc``
        (the default, as in the reference); ε from ``generator``.
    :param batch_size: observations per encoder call.
    """

    def __init__(
        self,
        encode: Callable | None = None,
        represent: Callable | None = None,
        sampled: bool = False,
        generator: torch.Generator | None = None,
        batch_size: int = 1024,
        device: torch.device | str | None = None,
    ):
        if encode is None and represent is None:
            raise ValueError(
                "Representation needs encode (x -> (loc, scale)) or represent (x -> codes)"
            )
        if sampled and encode is None:
            raise ValueError("sampled=True needs encode (x -> (loc, scale)) to draw z ~ q(z|x)")
        if sampled and generator is None:
            raise ValueError("sampled=True needs an explicit torch.Generator")
        self.encode_fn = encode
        self.represent_fn = represent
        self.sampled = bool(sampled)
        self.generator = generator
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.device = device

    @property
    def has_posterior(self) -> bool:
        return self.encode_fn is not None

    def _to(self, x):
        if torch.is_tensor(x) and self.device is not None:
            return x.to(self.device)
        return x

    def posterior(self, x) -> tuple[np.ndarray, np.ndarray]:
        """(loc, scale) as float64 numpy [B, D], encoded in chunks of ``batch_size``."""
        if self.encode_fn is None:
            raise ValueError(
                "this metric needs the posterior q(z|x): pass a model with encode(x) -> (loc, scale)"
            )
        locs, scales = [], []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                loc, scale = self.encode_fn(self._to(x[start : start + self.batch_size]))
                locs.append(_numpy(loc))
                scales.append(_numpy(scale))
        return np.concatenate(locs), np.concatenate(scales)

    def __call__(self, x) -> np.ndarray:
        if self.encode_fn is None:
            parts = []
            with torch.no_grad():
                for start in range(0, len(x), self.batch_size):
                    parts.append(
                        _numpy(self.represent_fn(self._to(x[start : start + self.batch_size])))
                    )
            out = np.concatenate(parts)
            return out[:, None] if out.ndim == 1 else out
        loc, scale = self.posterior(x)
        if not self.sampled:
            return loc
        eps = torch.randn(loc.shape, generator=self.generator, dtype=torch.float64).numpy()
        return loc + scale * eps


def _numpy(t) -> np.ndarray:
    if torch.is_tensor(t):
        return t.detach().cpu().double().numpy()
    return np.asarray(t, dtype=np.float64)


def as_representation(representation) -> Representation:
    """Wrap a model (anything with ``.encode``), a ``Representation`` or a plain ``x -> codes``."""
    if isinstance(representation, Representation):
        return representation
    if hasattr(representation, "encode") and callable(representation.encode):
        return Representation(encode=representation.encode)
    if callable(representation):
        return Representation(represent=representation)
    raise ValueError(
        f"representation must be a model with encode(x), a Representation or a callable x -> codes; "
        f"got {type(representation).__name__}"
    )


def observations_use_no_randomness(dataset) -> bool:
    """True when ``sample_observations_from_factors`` draws nothing from the random state
    (a :class:`FactorDataset` on its full grid): observations of many factor batches can then
    be fetched in one call without changing the random stream."""
    return isinstance(dataset, FactorDataset) and dataset.is_full_grid


class ObservationFetcher:
    """Observations for a sequence of factor batches, in the reference's random stream.

    ``add(factors)`` after each factor draw, ``fetch()`` for the observations of every batch
    added since, concatenated. Where observations draw nothing from the random state (a full
    grid: :func:`observations_use_no_randomness`) the batches are deferred and fetched in one
    call; otherwise each is fetched when added, between the factor draws, as the reference
    interleaves them. Either way a seed gives the same points.
    """

    def __init__(self, dataset, rs: np.random.RandomState):
        self.dataset = dataset
        self.rs = rs
        self.deferred = observations_use_no_randomness(dataset)
        self._parts: list = []

    def add(self, factors: np.ndarray) -> None:
        if self.deferred:
            self._parts.append(factors)
        else:
            self._parts.append(self.dataset.sample_observations_from_factors(factors, self.rs))

    def fetch(self):
        parts, self._parts = self._parts, []
        if self.deferred:
            return self.dataset.sample_observations_from_factors(np.concatenate(parts), self.rs)
        return concat_observations(parts)


def concat_observations(parts: list):
    """Concatenate observation batches, torch tensors or NumPy arrays alike."""
    return torch.cat(parts) if torch.is_tensor(parts[0]) else np.concatenate(parts)


def generate_codes_and_factors(
    representation, dataset, num_points: int, random_state, batch_size: int = SAMPLE_BATCH_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """``num_points`` (codes [n, D], factors [n, K]) for random factor configurations.

    Draws factors then observations in batches of ``batch_size`` = 16 exactly like the
    reference's ``generate_batch_factor_code`` (so a seed gives the same points), and
    encodes them in large batches (the representation is applied row-wise).
    """
    rs = check_random_state(random_state)
    num_points = check_int("num_points", num_points, 1)
    rep = as_representation(representation)
    x, factors = _draw(dataset, num_points, rs, batch_size)
    return rep(x), factors


def generate_train_test(
    representation, dataset, num_train: int, num_test: int, random_state
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codes, factors, codes_test, factors_test): ``num_train`` then ``num_test`` points from
    one random stream, the reference's order for SAP, DCI and modularity/explicitness."""
    num_train = check_int("num_train", num_train, 2)
    num_test = check_int("num_test", num_test, 1)
    rs = check_random_state(random_state)
    codes, factors = generate_codes_and_factors(representation, dataset, num_train, rs)
    codes_test, factors_test = generate_codes_and_factors(representation, dataset, num_test, rs)
    return codes, factors, codes_test, factors_test


def _draw(dataset, num_points: int, rs, batch_size: int):
    """Observations and factors in the reference's order: per batch of 16, factors then observations."""
    fetcher = ObservationFetcher(dataset, rs)
    factors = []
    for start in range(0, num_points, batch_size):
        factors.append(dataset.sample_factors(min(batch_size, num_points - start), rs))
        fetcher.add(factors[-1])
    return fetcher.fetch(), np.concatenate(factors)


def generate_posterior_and_factors(
    representation, dataset, num_points: int, random_state, batch_size: int = SAMPLE_BATCH_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`generate_codes_and_factors` but returns (loc, scale, factors)."""
    rs = check_random_state(random_state)
    num_points = check_int("num_points", num_points, 1)
    rep = as_representation(representation)
    x, factors = _draw(dataset, num_points, rs, batch_size)
    loc, scale = rep.posterior(x)
    return loc, scale, factors


def posterior_of_dataset(representation, dataset, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loc, scale, factors) of every observation of ``dataset``, in its row order; images are
    turned into floats ``chunk`` at a time, so the whole set never exists as floats at once."""
    rep = as_representation(representation)
    locs, scales = [], []
    for start in range(0, len(dataset), chunk):
        loc, scale = rep.posterior(dataset.batch_to_float(dataset.images[start : start + chunk]))
        locs.append(loc)
        scales.append(scale)
    return np.concatenate(locs), np.concatenate(scales), dataset._require_factors()


def top_two_gap(matrix: np.ndarray) -> np.ndarray:
    """Per column, the largest minus the second largest entry (rows are code dims or groups)."""
    ordered = np.sort(matrix, axis=0)
    if ordered.shape[0] < 2:
        raise ValueError("a top-two gap needs at least two code dimensions (or groups)")
    return ordered[-1] - ordered[-2]


def normalize_group_lists(groups: Sequence | None, latent_dim: int) -> list[list[int]]:
    """Group sizes or explicit dim lists → dim lists partitioning range(latent_dim)."""
    if groups is None:
        return [[d] for d in range(latent_dim)]
    return normalize_groups(groups, latent_dim)
