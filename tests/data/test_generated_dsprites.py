"""The dSprites renderer: exact factor grid, index ↔ factor round trips, images that follow factors."""

import numpy as np
import pytest
import torch

from pyrodisent.data import get_dataset
from pyrodisent.data.base import FactorDataset
from pyrodisent.data.dsprites import FACTOR_SIZES, generated_dsprites, render


def test_full_grid_index_factor_round_trip():
    # The full grid's index arithmetic, checked on all 737,280 combinations without rendering.
    sizes = list(FACTOR_SIZES)
    n = int(np.prod(sizes))
    assert n == 737_280
    grids = np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij")
    factors = np.stack([g.reshape(-1) for g in grids], axis=1)
    grid = FactorDataset(torch.zeros(n, 1, 1, 1, dtype=torch.bool), factors, list("abcde"), sizes)
    assert grid.is_full_grid
    index = grid.factors_to_index(factors)
    np.testing.assert_array_equal(index, np.arange(n))
    np.testing.assert_array_equal(grid.index_to_factors(index), factors)
    # posY varies fastest, shape slowest (the released file's order)
    np.testing.assert_array_equal(factors[1], [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(factors[32], [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(factors[-1], [2, 5, 39, 31, 31])


def test_subgrid_images_equal_full_grid_renders():
    data = get_dataset("generated_dsprites", orientations=5, positions=4, scales=3)
    assert data.factor_sizes == [3, 3, 5, 4, 4]
    assert len(data) == 3 * 3 * 5 * 4 * 4
    assert data.images.dtype == torch.bool and data.images.shape[1:] == (1, 64, 64)
    assert data.is_full_grid
    np.testing.assert_array_equal(data.grid_classes[2], [0, 8, 16, 24, 32])  # evenly round the circle
    np.testing.assert_array_equal(data.grid_classes[3], [0, 10, 21, 31])  # endpoints kept
    np.testing.assert_allclose(data.factor_values[1], [0.5, 0.7, 1.0])  # classes 0, 2, 5
    rows = np.random.RandomState(0).choice(len(data), size=60, replace=False)
    full = np.stack([data.grid_classes[k][data.factors[rows, k]] for k in range(5)], axis=1)
    assert torch.equal(render(full), data.images[rows])
    np.testing.assert_array_equal(data.factors_to_index(data.factors[rows]), rows)


def test_random_subset_of_full_grid_renders_binary_non_empty_inside_frame():
    rs = np.random.RandomState(1)
    factors = np.stack([rs.randint(s, size=400) for s in FACTOR_SIZES], axis=1)
    images = render(factors)
    assert images.dtype == torch.bool and images.shape == (400, 1, 64, 64)
    area = images.flatten(1).sum(1)
    assert (area > 20).all()
    border = images[:, 0, [0, -1], :].any() or images[:, 0, :, [0, -1]].any()
    assert not border  # the largest rotated shape at the outermost position stays inside


def _one(factors):
    return render(np.array([factors]))[0, 0]


def test_images_differ_along_each_factor():
    base = [2, 2, 3, 10, 10]  # a heart: no rotational symmetry
    for k, size in enumerate(FACTOR_SIZES):
        other = list(base)
        other[k] = (base[k] + size // 2) % size
        assert not torch.equal(_one(base), _one(other)), f"factor {k} does not change the image"


def test_factors_have_their_meaning():
    # position: one class = one pixel shift, x along columns, y along rows
    a, b, c = _one([2, 3, 5, 4, 7]), _one([2, 3, 5, 5, 7]), _one([2, 3, 5, 4, 8])
    assert torch.equal(torch.roll(a, 1, dims=1), b)
    assert torch.equal(torch.roll(a, 1, dims=0), c)
    # scale: area grows about quadratically (0.5 → 1 gives ×4)
    small, large = _one([0, 0, 0, 16, 16]).sum().item(), _one([0, 5, 0, 16, 16]).sum().item()
    assert 3.3 < large / small < 4.7
    # orientation: a square is symmetric under a quarter turn (10 of 40 steps), a heart is not
    assert torch.equal(_one([0, 5, 0, 16, 16]), _one([0, 5, 10, 16, 16]))
    assert not torch.equal(_one([2, 5, 0, 16, 16]), _one([2, 5, 10, 16, 16]))
    # an ellipse is symmetric under a half turn only
    assert (_one([1, 5, 3, 16, 16]) ^ _one([1, 5, 23, 16, 16])).sum() <= 4
    assert (_one([1, 5, 3, 16, 16]) ^ _one([1, 5, 13, 16, 16])).sum() > 40


def test_uint8_option_and_bad_options():
    data = generated_dsprites(shapes=1, scales=1, orientations=1, positions=2, dtype="uint8")
    assert data.images.dtype == torch.uint8 and set(data.images.unique().tolist()) == {0, 255}
    assert data.batch_to_float(data.images).max() == 1.0
    with pytest.raises(ValueError, match="orientations must be an int in \\[1, 40\\], got 41"):
        generated_dsprites(orientations=41)
    with pytest.raises(ValueError, match="dtype"):
        generated_dsprites(dtype="float")
    with pytest.raises(ValueError, match="either positions or"):
        generated_dsprites(positions=2, positions_x=3)


def test_sampling_observations_from_factors():
    data = generated_dsprites(orientations=4, positions=4)
    factors = data.sample_factors(50, np.random.RandomState(3))
    obs = data.sample_observations_from_factors(factors, np.random.RandomState(4))
    assert obs.dtype == torch.float32 and obs.shape == (50, 1, 64, 64)
    assert torch.equal(obs, data.images[data.factors_to_index(factors)].float())


def test_image_size_averages_pixel_blocks():
    big = get_dataset("generated_dsprites", orientations=2, positions=3, scales=2)
    small = get_dataset("generated_dsprites", orientations=2, positions=3, scales=2, image_size=32)
    assert small.images.dtype == torch.uint8 and small.images.shape[1:] == (1, 32, 32)
    np.testing.assert_array_equal(small.factors, big.factors)
    # each pixel is 255 × the fraction of its 2 × 2 block the shape covers, rounded
    want = big.images.float().reshape(len(big), 1, 32, 2, 32, 2).mean((3, 5)).mul(255).round()
    assert torch.equal(small.images.float(), want)
    fractions = set(small.images.unique().tolist())
    assert fractions <= {0, 64, 128, 191, 255} and {64, 128, 191} & fractions  # grey edges
    assert get_dataset("generated_dsprites", positions=2, scales=1, image_size=16).images.shape[1:] == (1, 16, 16)


def test_image_size_errors_name_the_fix():
    with pytest.raises(ValueError, match="image_size must be 64, 32 or 16"):
        generated_dsprites(positions=2, image_size=48)
    with pytest.raises(ValueError, match="use dtype 'uint8'"):
        generated_dsprites(positions=2, image_size=32, dtype="bool")


def test_a_factor_held_at_one_class_is_dropped():
    data = get_dataset("generated_dsprites", orientations=1, positions=4, shapes=2)
    assert data.factor_names == ["shape", "scale", "posX", "posY"]
    assert data.factor_sizes == [2, 6, 4, 4] and len(data) == 2 * 6 * 4 * 4
    assert data.fixed_factors == {"orientation": 0.0}
    assert data.is_full_grid and data.factors.shape == (len(data), 4)
    rows = np.arange(0, len(data), 7)
    full = np.stack([data.grid_classes[k][np.zeros(len(rows), int) if k == 2 else data.factors[rows, k - (k > 2)]]
                     for k in range(5)], axis=1)
    assert torch.equal(render(full), data.images[rows])
