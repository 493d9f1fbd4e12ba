"""Pairs of observations for weak supervision (Locatello et al. 2020, §3): they differ in exactly
k factors, k = Rnd covers 1..K−1, any complete factor grid gives them, and they resume."""

import numpy as np
import pytest
import torch

from pyrodisent.data import FactorDataset
from pyrodisent.data.pairs import PairSampler, make_pair_sampler

SIZES = [2, 3, 4, 3]  # K = 4 factors, 72 combinations


def _grid(sizes=SIZES, order=None, repeats=1) -> FactorDataset:
    """One image per combination (``repeats`` per combination, rows in ``order``); pixel value =
    row index, so a batch says which rows it holds."""
    factors = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, len(sizes))
    factors = np.repeat(factors, repeats, axis=0)
    if order is not None:
        factors = factors[order(len(factors))]
    images = torch.arange(len(factors), dtype=torch.float32).view(-1, 1, 1, 1)
    return FactorDataset(images, factors, [f"f{i}" for i in range(len(sizes))], sizes, name="grid")


def _pair_factors(sampler, dataset, steps=20):
    rows = torch.cat([sampler.next_indices() for _ in range(steps)])
    return dataset.factors[rows[:, 0].numpy()], dataset.factors[rows[:, 1].numpy()]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_pairs_differ_in_exactly_k_factors(k):
    data = _grid()
    first, second = _pair_factors(PairSampler(data, 64, "cpu", 0, k=k), data)
    assert ((first != second).sum(1) == k).all()  # new classes always differ from the old ones
    assert (second >= 0).all() and (second < np.array(SIZES)).all()


def test_k_rnd_is_uniform_over_1_to_K_minus_1():
    data = _grid()
    first, second = _pair_factors(PairSampler(data, 500, "cpu", 1, k="rnd"), data)
    changed = (first != second).sum(1)
    counts = np.bincount(changed, minlength=5)
    assert counts[0] == 0 and counts[4] == 0  # never all shared, never all changed
    assert np.allclose(counts[1:4] / len(changed), 1 / 3, atol=0.03)  # 10,000 pairs


def test_which_factor_changes_and_its_new_class_are_uniform():
    data = _grid()
    first, second = _pair_factors(PairSampler(data, 500, "cpu", 2, k=1), data)
    which = (first != second).argmax(1)
    assert np.allclose(np.bincount(which, minlength=4) / len(which), 0.25, atol=0.03)
    # factor 2 has four classes: from class 0 the new class is 1, 2 or 3 with probability 1/3 each
    moved = (which == 2) & (first[:, 2] == 0)
    assert np.allclose(np.bincount(second[moved, 2], minlength=4)[1:] / moved.sum(), 1 / 3, atol=0.1)
    # the first observation is uniform over the grid
    assert np.allclose(np.bincount(first[:, 1], minlength=3) / len(first), 1 / 3, atol=0.03)


def test_batches_are_the_observations_of_the_drawn_rows():
    data = _grid()
    rows = PairSampler(data, 32, "cpu", 5, k="rnd").next_indices()
    batch = PairSampler(data, 32, "cpu", 5, k="rnd").next_batch()
    assert batch.shape == (32, 2, 1, 1, 1) and batch.dtype == torch.float32
    assert torch.equal(batch.view(32, 2).long(), rows)


def test_state_dict_resumes_the_same_pairs():
    data = _grid()
    first = make_pair_sampler(data, 16, "cpu", 11, k="rnd")
    for _ in range(7):
        first.next_batch()
    state = first.state_dict()
    expected = [first.next_batch() for _ in range(5)]
    resumed = make_pair_sampler(data, 16, "cpu", 999, k="rnd")
    resumed.load_state_dict(state)
    for e in expected:
        assert torch.equal(resumed.next_batch(), e)
    with pytest.raises(ValueError, match="k=1"):
        make_pair_sampler(data, 16, "cpu", 0, k=1).load_state_dict(state)


def test_sample_draws_from_its_own_generator_and_leaves_the_stream():
    data = _grid()
    a, b = PairSampler(data, 8, "cpu", 3), PairSampler(data, 8, "cpu", 3)
    a.sample(5, torch.Generator().manual_seed(0))
    assert torch.equal(a.next_batch(), b.next_batch())


def test_any_row_order_and_repeated_observations_give_pairs():
    """A complete grid in shuffled order with two observations per combination: the lookup
    finds the rows of a combination and picks either one."""
    data = _grid(order=np.random.RandomState(0).permutation, repeats=2)
    assert not data.is_full_grid
    sampler = PairSampler(data, 400, "cpu", 4, k=2)
    rows = torch.cat([sampler.next_indices() for _ in range(5)])
    first, second = data.factors[rows[:, 0].numpy()], data.factors[rows[:, 1].numpy()]
    assert ((first != second).sum(1) == 2).all()
    assert len(np.unique(rows.numpy())) > 0.95 * len(data)  # both copies of a combination are drawn


def test_a_constant_factor_never_changes():
    data = _grid(sizes=[3, 1, 4])  # K = 2 factors that can change
    first, second = _pair_factors(PairSampler(data, 64, "cpu", 0, k="rnd"), data)
    assert (first[:, 1] == 0).all() and (second[:, 1] == 0).all()
    assert ((first != second).sum(1) == 1).all()  # k ∈ 1..K−1 = {1}


def test_bad_data_and_bad_k_are_named():
    full = _grid()
    incomplete = FactorDataset(full.images[:-1], full.factors[:-1], full.factor_names, SIZES, name="holes")
    with pytest.raises(ValueError, match="holes: 1 of the 72 factor combinations have no observation"):
        PairSampler(incomplete, 8, "cpu", 0)
    with pytest.raises(ValueError, match="k=4 leaves no shared factor.*1..3"):
        PairSampler(full, 8, "cpu", 0, k=4)
    with pytest.raises(ValueError, match="must be an int >= 1 or 'rnd'"):
        PairSampler(full, 8, "cpu", 0, k=0)
    unlabelled = FactorDataset(full.images, None, name="photos")
    with pytest.raises(ValueError, match="photos has no ground-truth factors"):
        PairSampler(unlabelled, 8, "cpu", 0)
