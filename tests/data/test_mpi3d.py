"""The MPI3D loader reads ``images`` of the released .npz layout; grid, memory map and every corrupt file.

The tiny files are the released format (one uint8 [N, 64, 64, 3] array ``images``, written
by ``np.savez``) on a small factor grid registered in ``mpi3d.GRIDS`` for the test: the
loader itself only accepts the row counts of the released grids.
"""

import zipfile

import numpy as np
import pytest
import torch

from pyrodisent.data import get_dataset
from pyrodisent.data import mpi3d as mpi3d_module
from pyrodisent.data.base import FactorDataset
from pyrodisent.data.paths import DATA_ROOT_ENV, DataFileError, MissingDataError
from pyrodisent.data.sampler import make_batch_sampler

TINY = (2, 3, 2, 1, 2, 3, 2)  # 144 rows, one factor of size 1, the rest distinct enough to catch stride mix-ups
ROWS = int(np.prod(TINY))
TOY = "mpi3d_toy.npz"


@pytest.fixture
def tiny_grid(monkeypatch):
    monkeypatch.setitem(mpi3d_module.GRIDS, ROWS, TINY)


def _images(n=ROWS):
    images = np.random.RandomState(0).randint(0, 256, size=(n, 64, 64, 3)).astype(np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 256  # each row tagged with its index
    return images


def _write(file, compressed=False, **arrays):
    arrays = arrays or {"images": _images()}
    (np.savez_compressed if compressed else np.savez)(file, **arrays)
    return arrays


def test_released_grids_match_the_documented_row_formula():
    # The dataset's authors: row = color·172800 + shape·28800 + size·14400 + height·4800 + background·1600 + h·40 + v
    # (their earlier 4 × 4 release: color·115200 + shape·28800 + …).
    assert mpi3d_module.FACTOR_NAMES == (
        "object_color", "object_shape", "object_size", "camera_height", "background_color",
        "horizontal_axis", "vertical_axis",
    )
    strides = {}
    for rows, sizes in mpi3d_module.GRIDS.items():
        assert int(np.prod(sizes)) == rows
        grid = FactorDataset(torch.zeros(0, 3, 64, 64), None, mpi3d_module.FACTOR_NAMES, sizes)
        strides[rows] = grid.grid_strides().tolist()
    assert strides[1_036_800] == [172800, 28800, 14400, 4800, 1600, 40, 1]
    assert strides[460_800] == [115200, 28800, 14400, 4800, 1600, 40, 1]
    assert mpi3d_module.GRIDS[1_036_800] == (6, 6, 2, 3, 3, 40, 40)
    assert all(len(mpi3d_module.CLASS_NAMES[k]) == s for k, s in zip(mpi3d_module.FACTOR_NAMES, (6, 6, 2, 3, 3)))


@pytest.mark.parametrize("in_memory, compressed", [(False, False), (True, False), (True, True)])
def test_factors_decode_row_major(tmp_path, tiny_grid, in_memory, compressed):
    images = _write(tmp_path / TOY, compressed=compressed)["images"]
    data = get_dataset("mpi3d", path=tmp_path, in_memory=in_memory)
    assert data.images.shape == (ROWS, 3, 64, 64) and data.images.dtype == torch.uint8
    assert data.factor_names == list(mpi3d_module.FACTOR_NAMES) and data.factor_sizes == list(TINY)
    assert data.is_full_grid and data.name == "mpi3d_toy"
    np.testing.assert_array_equal(data.factors[1], [0, 0, 0, 0, 0, 0, 1])  # vertical_axis fastest
    np.testing.assert_array_equal(data.factors[2], [0, 0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(data.factors[6], [0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(data.factors[12], [0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(data.factors[-1], np.array(TINY) - 1)
    factors = np.array([[1, 0, 1, 0, 0, 2, 1]])
    row = 1 * 72 + 1 * 12 + 2 * 2 + 1  # by hand: strides 72, 24, 12, 12, 6, 2, 1
    assert data.factors_to_index(factors)[0] == row == 89
    np.testing.assert_array_equal(data.index_to_factors([row]), factors)
    assert data.images[row, 0, 0, 0] == row  # the row's own tag
    expected = torch.from_numpy(images[row]).permute(2, 0, 1)
    assert torch.equal(data.images[row], expected)
    obs = data.sample_observations_from_factors(factors, np.random.RandomState(0))
    assert obs.dtype == torch.float32 and torch.equal(obs[0], expected.float() / 255)


def test_mapped_images_are_a_view_that_samplers_read(tmp_path, tiny_grid):
    images = _write(tmp_path / "mpi3d_real.npz")["images"]
    data = get_dataset("mpi3d", variant="real", path=tmp_path / "mpi3d_real.npz")
    assert not data.images.is_contiguous()  # the file's channels-last bytes, permuted: no copy
    batch = make_batch_sampler(data, 5, "cpu", 0).next_batch()
    assert batch.shape == (5, 3, 64, 64) and batch.dtype == torch.float32
    tags = torch.round(batch[:, 0, 0, 0] * 255).long()
    expected = torch.from_numpy(images[tags.numpy()]).permute(0, 3, 1, 2).float() / 255
    assert torch.equal(batch, expected)


def test_missing_file_names_the_path_and_the_variable(tmp_path, monkeypatch, tiny_grid):
    (tmp_path / "mpi3d").mkdir()
    _write(tmp_path / "mpi3d" / "mpi3d_realistic.npz")
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert len(get_dataset("mpi3d", variant="realistic")) == ROWS
    with pytest.raises(MissingDataError, match=f"file {tmp_path / 'mpi3d' / TOY} not found; put {TOY} there"):
        get_dataset("mpi3d")
    monkeypatch.delenv(DATA_ROOT_ENV)
    with pytest.raises(MissingDataError, match=f"\\$PYRODISENT_DATA is not set. Put {TOY} at <data root>/mpi3d/{TOY}"):
        get_dataset("mpi3d")
    with pytest.raises(ValueError, match="variant must be one of \\['real', 'realistic', 'toy'\\], got 'complex'"):
        get_dataset("mpi3d", variant="complex", path=tmp_path)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"imgs": _images()}, "has no array 'images' \\(keys: \\['imgs'\\]\\)"),
        ({"images": _images()[..., 0]}, "'images' must be \\[N, 64, 64, 3\\], got \\[144, 64, 64\\]"),
        ({"images": np.zeros((ROWS, 32, 32, 3), np.uint8)}, "'images' must be \\[N, 64, 64, 3\\], got \\[144, 32, 32, 3\\]"),
        ({"images": _images().astype(np.float32)}, "'images' must be uint8, got float32"),
        ({"images": np.empty((ROWS, 64, 64, 3), object)}, "'images' must be uint8, got object"),
        ({"images": np.asfortranarray(_images())}, "'images' is stored in Fortran order"),
        ({"images": _images(ROWS - 1)}, "'images' has 143 rows; MPI3D holds one image per factor combination: "
                                        "1036800 \\(6·6·2·3·3·40·40\\), 460800 \\(4·4·2·3·3·40·40\\)"),
    ],
)
def test_corrupt_files_name_the_problem(tmp_path, tiny_grid, arrays, message):
    file = tmp_path / TOY
    _write(file, **arrays)
    with pytest.raises(DataFileError, match=message) as info:
        get_dataset("mpi3d", path=file)
    assert str(file) in str(info.value)


def test_truncated_files(tmp_path, tiny_grid):
    file = tmp_path / TOY
    _write(file)
    good = file.read_bytes()
    file.write_bytes(good[: len(good) // 2])  # the zip directory at the end is gone
    with pytest.raises(DataFileError, match=f"data file {file}: cannot be read as an .npz archive"):
        get_dataset("mpi3d", path=file)
    # an intact archive whose .npy header promises more rows than the member holds
    header = np.lib.format.header_data_from_array_1_0(_images())
    with zipfile.ZipFile(file, "w") as archive, archive.open("images.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, header)
        member.write(_images(100).tobytes())
    with pytest.raises(DataFileError, match="its header says \\[144, 64, 64, 3\\] uint8 = 1769472 bytes, but the member holds 1228800"):
        get_dataset("mpi3d", path=file)


def test_reading_into_memory_checks_the_crc(tmp_path, tiny_grid):
    file = tmp_path / TOY
    _write(file)
    raw = bytearray(file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte inside the image data
    file.write_bytes(bytes(raw))
    assert len(get_dataset("mpi3d", path=file)) == ROWS  # mapping reads nothing, so it cannot tell
    with pytest.raises(DataFileError, match="is truncated or corrupt \\(BadZipFile: Bad CRC-32"):
        get_dataset("mpi3d", path=file, in_memory=True)


def test_compressed_file_cannot_be_mapped(tmp_path, tiny_grid):
    file = tmp_path / TOY
    _write(file, compressed=True)
    with pytest.raises(DataFileError, match="'images' is deflate-compressed .* pass in_memory=True to read all 1.8 MB"):
        get_dataset("mpi3d", path=file)
    assert len(get_dataset("mpi3d", path=file, in_memory=True)) == ROWS
