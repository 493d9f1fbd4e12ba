"""The colour, noisy and scream dSprites variants: RGB images over the same factors, one fixed draw per seed."""

import numpy as np
import pytest
import torch

from pyrodisent.data import get_dataset
from pyrodisent.data.dsprites_variants import apply_variant, load_background
from pyrodisent.data.hdf5 import h5, save_h5
from pyrodisent.data.paths import DataFileError, MissingDataError
from pyrodisent.data.sampler import make_batch_sampler

GRID = {"orientations": 1, "scales": 2, "positions": 8}  # 3 · 2 · 8 · 8 = 384 images
N = 384
H, W = 80, 100  # background image rows × columns: fits 350 × 274, so it is used unshrunk


def _plain(**options):
    return get_dataset("generated_dsprites", **GRID, **options)


def _variant(variant, **options):
    return get_dataset("generated_dsprites", **GRID, variant=variant, **options)


def _background_array():
    """uint8 [H, W, 3]: red grows 3 per row, green 2 per column, blue constant 128."""
    rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    return np.stack([3 * rows, 2 * cols, np.full_like(rows, 128)], axis=-1).astype(np.uint8)


def _as_float(images):
    return images.float() / 255 if images.dtype == torch.uint8 else images


@pytest.fixture
def scream_files(tmp_path):
    from PIL import Image

    array = _background_array()
    np.save(tmp_path / "scream.npy", array)
    Image.fromarray(array, "RGB").save(tmp_path / "scream.png")
    return tmp_path / "scream.png", tmp_path / "scream.npy"


@pytest.mark.parametrize("variant", ["color", "noisy", "scream"])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_variants_are_rgb_over_the_same_factors(variant, dtype, scream_files):
    plain = _plain()
    options = {"scream_image": scream_files[0]} if variant == "scream" else {}
    data = _variant(variant, dtype=dtype, **options)
    assert data.images.shape == (N, 3, 64, 64)
    assert data.images.dtype == (torch.uint8 if dtype == "uint8" else torch.float32)
    np.testing.assert_array_equal(data.factors, plain.factors)
    assert data.factor_sizes == plain.factor_sizes and data.is_full_grid
    assert data.variant == variant and data.variant_seed == 0
    batch = make_batch_sampler(data, 16, "cpu", 0).next_batch()
    assert batch.shape == (16, 3, 64, 64) and batch.dtype == torch.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0


def test_color_paints_each_sprite_one_colour_on_black():
    sprite = _plain().images[:, 0]  # [N, 64, 64] bool
    x = _variant("color", dtype="float32", seed=3).images
    assert (x.permute(1, 0, 2, 3)[:, ~sprite] == 0).all()  # background black
    colours = x.amax((2, 3))  # [N, 3]: the sprite's colour
    assert torch.equal(x, sprite[:, None].float() * colours[:, :, None, None])  # every sprite pixel that colour
    assert 0.5 <= colours.min() and colours.max() <= 1.0
    # c ~ U[0.5, 1]³: mean 0.75, sd 0.5/√12 ≈ 0.144 per channel, independent across images
    assert abs(colours.mean().item() - 0.75) < 4 * 0.144 / np.sqrt(3 * N)
    assert abs(colours.std().item() - 0.5 / np.sqrt(12)) < 0.02
    stored = _variant("color", seed=3).images  # uint8: round(255 · x)
    assert torch.equal(stored, torch.round(x * 255).to(torch.uint8))


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_noisy_is_a_white_sprite_on_uniform_noise(dtype):
    sprite = _plain().images[:, 0]
    data = _variant("noisy", dtype=dtype, seed=5)
    x = _as_float(data.images)
    on = x.permute(1, 0, 2, 3)[:, sprite]  # [3, sprite pixels]
    off = x.permute(1, 0, 2, 3)[:, ~sprite].double()  # [3, background pixels]
    assert (on == 1).all()
    m = off.numel()
    # U[0, 1]: mean 1/2 (sd 1/√12 per value), variance 1/12 (sd of the sample variance √(1/80 − 1/144) / √m)
    assert abs(off.mean().item() - 0.5) < 4 * np.sqrt(1 / 12 / m)
    assert abs(off.var().item() - 1 / 12) < 4 * np.sqrt(1 / 80 - 1 / 144) / np.sqrt(m)
    assert abs(torch.corrcoef(off[:, :100000])[0, 1].item()) < 0.02  # channels drawn independently


@pytest.mark.parametrize("variant", ["color", "noisy", "scream"])
def test_same_seed_same_images(variant, scream_files):
    options = {"scream_image": scream_files[1]} if variant == "scream" else {}
    first = _variant(variant, seed=11, **options).images
    assert torch.equal(first, _variant(variant, seed=11, **options).images)
    assert not torch.equal(first, _variant(variant, seed=12, **options).images)


def test_scream_background_is_a_shifted_patch_inverted_under_the_sprite(scream_files):
    png, npy = scream_files
    sprite = _plain().images[:, 0]
    x = _variant("scream", dtype="float32", seed=2, scream_image=png).images.double()
    assert torch.equal(_variant("scream", dtype="float32", seed=2, scream_image=npy).images, x.float())
    b = torch.where(sprite[:, None], 1 - x, x)  # undo the inversion under the sprite
    # b = (P + o) / 2 with P a patch of the background: 2b − P is the constant o per channel
    i = torch.arange(64, dtype=torch.float64)
    offsets = torch.stack([2 * b[:, 0] - 3 * i[:, None] / 255, 2 * b[:, 1] - 2 * i[None, :] / 255, 2 * b[:, 2]], 1)
    spread = offsets.amax((2, 3)) - offsets.amin((2, 3))
    assert spread.max() < 1e-5
    o_blue = offsets[:, 2, 0, 0] - 128 / 255  # blue is constant, so its shift is seen alone
    assert 0 <= o_blue.min() and o_blue.max() <= 1 and o_blue.std() > 0.2
    top = offsets[:, 0, 0, 0] * 255 / 3  # first patch row + the red shift, in rows
    assert top.min() >= 0 and top.max() <= (H - 64) + 255 / 3


def test_scream_needs_its_image_and_names_the_option(tmp_path, scream_files):
    for name in ("generated_dsprites", "dsprites"):
        with pytest.raises(ValueError, match=f"{name}: variant 'scream' needs scream_image=PATH"):
            get_dataset(name, variant="scream", path=tmp_path) if name == "dsprites" else _variant("scream")
    with pytest.raises(ValueError, match="scream_image is only used by variant 'scream', got variant 'color'"):
        _variant("color", scream_image=scream_files[0])
    with pytest.raises(ValueError, match="variant must be one of \\['color', 'noisy', 'scream'\\] or None, got 'colour'"):
        _variant("colour")
    with pytest.raises(ValueError, match="dtype must be 'uint8' \\(default\\) or 'float32', got 'bool'"):
        _variant("noisy", dtype="bool")
    with pytest.raises(MissingDataError, match=f"scream_image: file {tmp_path / 'munch.jpg'} not found"):
        _variant("scream", scream_image=tmp_path / "munch.jpg")


def test_background_image_is_shrunk_like_the_reference_and_checked(tmp_path):
    from PIL import Image

    Image.new("RGB", (700, 800), (10, 20, 30)).save(tmp_path / "big.png")
    assert load_background(tmp_path / "big.png").shape == (3, 274, 240)  # fits 350 × 274, aspect kept
    Image.new("RGB", (50, 300), (10, 20, 30)).save(tmp_path / "narrow.png")
    with pytest.raises(DataFileError, match="is 46 × 274 after fitting into 350 × 274; a 64 × 64 patch needs"):
        load_background(tmp_path / "narrow.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataFileError, match="broken.png: is not a readable image"):
        load_background(tmp_path / "broken.png")
    np.save(tmp_path / "gray.npy", np.zeros((80, 80)))
    with pytest.raises(DataFileError, match="scream_image must be an \\[H, W, 3\\] array, got \\[80, 80\\]"):
        load_background(tmp_path / "gray.npy")


def test_shrunk_images_scale_the_colour_by_coverage():
    grey = _plain(image_size=32).images.float() / 255  # [N, 1, 32, 32] coverage
    x = _variant("color", dtype="float32", image_size=32, seed=4).images
    colours = x.flatten(2).amax(2) / grey.flatten(2).amax(2)
    assert x.shape == (N, 3, 32, 32)
    torch.testing.assert_close(x, grey * colours[:, :, None, None])


def test_file_loader_takes_the_same_variants(tmp_path):
    rs = np.random.RandomState(0)
    classes = np.stack([np.zeros(6, int)] + [rs.randint(s, size=6) for s in (3, 6, 40, 32, 32)], axis=1)
    file = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    np.savez(file, imgs=(rs.rand(6, 64, 64) < 0.3).astype(np.uint8), latents_classes=classes)
    plain = get_dataset("dsprites", path=file)
    for variant in ("color", "noisy"):
        data = get_dataset("dsprites", path=file, variant=variant, seed=7)
        assert data.images.shape == (6, 3, 64, 64) and data.images.dtype == torch.uint8
        assert torch.equal(data.images, apply_variant(plain.images, variant, 7))
        np.testing.assert_array_equal(data.factors, plain.factors)
    with pytest.raises(ValueError, match="dsprites: variant 'noisy' makes RGB images in \\[0, 1\\]; dtype must be"):
        get_dataset("dsprites", path=file, variant="noisy", dtype="bool")


def test_hdf5_cache_keeps_the_variant_images(tmp_path):
    data = _variant("noisy", seed=1)
    back = h5(save_h5(data, tmp_path / "noisy.h5"))
    assert torch.equal(back.images, data.images) and back.variant == "noisy" and back.variant_seed == 1
