"""Every file loader reads a tiny file in the exact released format; every corrupt variant fails clearly."""

import gzip
import io

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from pyrodisent.data import get_dataset
from pyrodisent.data.paths import DATA_ROOT_ENV, DataFileError, MissingDataError
from pyrodisent.data.sampler import make_batch_sampler

# ---------------------------------------------------------------- dSprites (.npz)
DSPRITES = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"


def _write_dsprites(path, n=6, **override):
    rs = np.random.RandomState(0)
    classes = np.stack([np.zeros(n, int)] + [rs.randint(s, size=n) for s in (3, 6, 40, 32, 32)], axis=1)
    values = np.stack(
        [np.ones(n), classes[:, 1] + 1.0, np.linspace(0.5, 1, 6)[classes[:, 2]],
         np.linspace(0, 2 * np.pi, 40)[classes[:, 3]], classes[:, 4] / 31, classes[:, 5] / 31], axis=1
    )
    arrays = {"imgs": (rs.rand(n, 64, 64) < 0.1).astype(np.uint8), "latents_classes": classes, "latents_values": values}
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return arrays


def test_dsprites_npz_reads_images_and_factors(tmp_path):
    arrays = _write_dsprites(tmp_path / DSPRITES)
    data = get_dataset("dsprites", path=tmp_path)  # a folder holding the file
    assert data.images.shape == (6, 1, 64, 64) and data.images.dtype == torch.bool
    assert torch.equal(data.images[:, 0], torch.from_numpy(arrays["imgs"].astype(bool)))
    np.testing.assert_array_equal(data.factors, arrays["latents_classes"][:, 1:])
    assert data.factor_names == ["shape", "scale", "orientation", "posX", "posY"]
    assert data.factor_sizes == [3, 6, 40, 32, 32]
    obs = data.sample_observations_from_factors(data.factors[[2]], np.random.RandomState(0))
    assert torch.equal(obs, data.images[[2]].float())


def test_dsprites_from_data_root_and_missing_file(tmp_path, monkeypatch):
    (tmp_path / "dsprites").mkdir()
    _write_dsprites(tmp_path / "dsprites" / DSPRITES)
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert len(get_dataset("dsprites")) == 6
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(MissingDataError, match=f"file {tmp_path / 'elsewhere' / 'dsprites' / DSPRITES} not found; put {DSPRITES} there"):
        get_dataset("dsprites")
    monkeypatch.delenv(DATA_ROOT_ENV)
    with pytest.raises(MissingDataError, match=f"\\$PYRODISENT_DATA is not set. Put {DSPRITES} at <data root>/dsprites/"):
        get_dataset("dsprites")


@pytest.mark.parametrize(
    "override, message",
    [
        ({"imgs": None}, "has no array 'imgs'"),
        ({"imgs": np.zeros((6, 32, 32), np.uint8)}, "'imgs' must be \\[N, 64, 64\\], got \\(6, 32, 32\\)"),
        ({"latents_classes": np.zeros((5, 6), int)}, "'latents_classes' must be \\[6, 6\\]"),
        ({"imgs": np.full((6, 64, 64), 255, np.uint8)}, "'imgs' must be uint8 in \\{0, 1\\}"),
        ({"latents_classes": np.full((6, 6), 40)}, "classes outside the sizes"),
    ],
)
def test_dsprites_corrupt_variants(tmp_path, override, message):
    file = tmp_path / DSPRITES
    _write_dsprites(file, **override)
    with pytest.raises(DataFileError, match=message) as info:
        get_dataset("dsprites", path=file)
    assert str(file) in str(info.value)


def test_dsprites_truncated_archive(tmp_path):
    file = tmp_path / DSPRITES
    _write_dsprites(file)
    file.write_bytes(file.read_bytes()[:3000])
    with pytest.raises(DataFileError, match=f"data file {file}: (cannot be read|is truncated)"):
        get_dataset("dsprites", path=file)


# ---------------------------------------------------------------- Shapes3D (.h5)
SHAPES_VALUES = [np.arange(10) / 10] * 3 + [np.linspace(0.75, 1.25, 8), np.arange(4.0), np.linspace(-30, 30, 15)]


def _write_shapes3d(file, n=7, images=None, labels=None, drop=None):
    rs = np.random.RandomState(1)
    classes = np.stack([rs.randint(len(v), size=n) for v in SHAPES_VALUES], axis=1)
    if labels is None:
        labels = np.stack([SHAPES_VALUES[k][classes[:, k]] for k in range(6)], axis=1)
    if images is None:
        images = rs.randint(0, 256, size=(n, 64, 64, 3)).astype(np.uint8)
    with h5py.File(file, "w") as f:
        if drop != "images":
            f.create_dataset("images", data=images)
        if drop != "labels":
            f.create_dataset("labels", data=labels)
    return images, classes


@pytest.mark.parametrize("in_memory", [True, False])
def test_shapes3d_reads_images_and_factors(tmp_path, in_memory):
    images, classes = _write_shapes3d(tmp_path / "3dshapes.h5")
    data = get_dataset("shapes3d", path=tmp_path / "3dshapes.h5", in_memory=in_memory)
    assert len(data) == 7 and tuple(data.images.shape) == (7, 3, 64, 64)
    np.testing.assert_array_equal(data.factors, classes)
    assert data.factor_sizes == [10, 10, 10, 8, 4, 15]
    expected = torch.from_numpy(images).permute(0, 3, 1, 2)
    rows = np.array([4, 0, 4, 6])
    assert torch.equal(data.images[rows], expected[rows])  # unsorted, repeated rows read lazily too
    obs = data.sample_observations_from_factors(classes[[3]], np.random.RandomState(0))
    assert obs.dtype == torch.float32 and torch.allclose(obs, expected[[3]].float() / 255)
    batch = make_batch_sampler(data, 5, "cpu", 0).next_batch()
    assert batch.shape == (5, 3, 64, 64) and batch.dtype == torch.float32


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"drop": "labels"}, "has no dataset 'labels'"),
        ({"images": np.zeros((7, 64, 64), np.uint8)}, "'images' must be \\[N, 64, 64, 3\\], got \\[7, 64, 64\\]"),
        ({"images": np.zeros((7, 64, 64, 3), np.float32)}, "'images' must be uint8"),
        ({"labels": np.zeros((6, 6))}, "'labels' must be \\[7, 6\\] to match 'images'"),
        ({"labels": np.full((7, 6), 0.05)}, "column 0 \\(floor_hue\\) has value 0.05 outside the grid"),
    ],
)
def test_shapes3d_corrupt_variants(tmp_path, kwargs, message):
    file = tmp_path / "3dshapes.h5"
    _write_shapes3d(file, **kwargs)
    with pytest.raises(DataFileError, match=message) as info:
        get_dataset("shapes3d", path=file)
    assert str(file) in str(info.value)


def test_shapes3d_not_hdf5_and_missing(tmp_path):
    (tmp_path / "3dshapes.h5").write_bytes(b"not an hdf5 file at all")
    with pytest.raises(DataFileError, match="is not a readable HDF5 file"):
        get_dataset("shapes3d", path=tmp_path)
    with pytest.raises(MissingDataError, match="put 3dshapes.h5 there"):
        get_dataset("shapes3d", path=tmp_path / "nope")


# ---------------------------------------------------------------- Cars3D (.mat folder)
def _car(seed):
    return np.random.RandomState(seed).randint(0, 256, size=(128, 128, 3, 24, 4)).astype(np.uint8)


def test_cars3d_reads_folder(tmp_path):
    cars = [_car(0), _car(1)]
    for i, im in enumerate(cars):
        scipy.io.savemat(tmp_path / f"car_{i + 1:03d}_mesh.mat", {"im": im})
    data = get_dataset("cars3d", path=tmp_path)
    assert data.images.shape == (4 * 24 * 2, 3, 64, 64) and data.images.dtype == torch.uint8
    assert data.factor_sizes == [4, 24, 2] and data.is_full_grid
    elevation, azimuth, obj = 3, 17, 1
    index = data.factors_to_index(np.array([[elevation, azimuth, obj]]))[0]
    view = torch.from_numpy(cars[obj][:, :, :, azimuth, elevation]).permute(2, 0, 1).float()
    expected = view.reshape(3, 64, 2, 64, 2).mean((2, 4)).round().to(torch.uint8)  # 2 × 2 box average
    assert torch.equal(data.images[index], expected)


@pytest.mark.parametrize(
    "content, message",
    [
        ({"img": np.zeros((4, 4), np.uint8)}, "has no variable 'im' \\(variables: \\['img'\\]\\)"),
        ({"im": np.zeros((128, 128, 3, 24), np.uint8)}, "'im' must be \\[H, H, 3, 24, 4\\]"),
        ({"im": np.zeros((128, 128, 3, 24, 4), np.float64)}, "'im' must be uint8"),
    ],
)
def test_cars3d_corrupt_variants(tmp_path, content, message):
    scipy.io.savemat(tmp_path / "car_001_mesh.mat", content)
    with pytest.raises(DataFileError, match=message) as info:
        get_dataset("cars3d", path=tmp_path)
    assert "car_001_mesh.mat" in str(info.value)


def test_cars3d_garbage_and_empty_folder(tmp_path):
    with pytest.raises(MissingDataError, match="no .mat files in"):
        get_dataset("cars3d", path=tmp_path)
    (tmp_path / "car_001_mesh.mat").write_bytes(b"\x00" * 300)
    with pytest.raises(DataFileError, match="cannot be read as a .mat file"):
        get_dataset("cars3d", path=tmp_path)
    with pytest.raises(MissingDataError, match="does not exist; put the 183 Cars3D .mat files"):
        get_dataset("cars3d", path=tmp_path / "missing")


# ---------------------------------------------------------------- SmallNORB (binary .mat)
NORB = "smallnorb-5x46789x9x18x6x2x96x96-{}-{}.mat"


def _norb_bytes(array, magic):
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    header = np.array([magic, array.ndim] + dims, dtype="<i4").tobytes()
    return header + np.ascontiguousarray(array).astype("<i4" if magic == 507333716 else np.uint8).tobytes()


def _write_norb(folder, split="training", n=4, seed=0):
    rs = np.random.RandomState(seed)
    dat = rs.randint(0, 256, size=(n, 2, 96, 96)).astype(np.uint8)
    cat = rs.randint(5, size=n)
    info = np.stack([rs.randint(10, size=n), rs.randint(9, size=n), 2 * rs.randint(18, size=n), rs.randint(6, size=n)], axis=1)
    (folder / NORB.format(split, "dat")).write_bytes(_norb_bytes(dat, 507333717))
    (folder / NORB.format(split, "cat")).write_bytes(_norb_bytes(cat, 507333716))
    (folder / NORB.format(split, "info")).write_bytes(_norb_bytes(info, 507333716))
    return dat, cat, info


def test_smallnorb_reads_binary_files(tmp_path):
    dat, cat, info = _write_norb(tmp_path, "training", 4, 0)
    _, cat2, info2 = _write_norb(tmp_path, "testing", 3, 1)
    data = get_dataset("smallnorb", path=tmp_path)
    assert data.images.shape == (7, 1, 64, 64) and data.images.dtype == torch.uint8
    assert data.factor_names == ["category", "elevation", "azimuth", "lighting"]
    expected = np.stack([cat, info[:, 1], info[:, 2] // 2, info[:, 3]], axis=1)
    np.testing.assert_array_equal(data.factors[:4], expected)
    np.testing.assert_array_equal(data.instances[:4], info[:, 0])
    np.testing.assert_array_equal(data.factors[4:, 0], cat2)  # testing rows follow training rows
    np.testing.assert_array_equal(data.factors[4:, 2], info2[:, 2] // 2)
    first_camera = torch.from_numpy(dat[0, 0]).float()[None, None]
    resized = torch.nn.functional.interpolate(first_camera, size=(64, 64), mode="area").round().to(torch.uint8)
    assert torch.equal(data.images[0], resized[0])
    assert len(get_dataset("smallnorb", path=tmp_path, split="testing")) == 3


def test_smallnorb_corrupt_variants(tmp_path):
    _write_norb(tmp_path)
    dat_file = tmp_path / NORB.format("training", "dat")
    good = dat_file.read_bytes()
    dat_file.write_bytes(good[:-100])
    with pytest.raises(DataFileError, match="short read: header says \\[4, 2, 96, 96\\]") as info:
        get_dataset("smallnorb", path=tmp_path, split="training")
    assert str(dat_file) in str(info.value)
    dat_file.write_bytes(np.array([12345], "<i4").tobytes() + good[4:])
    with pytest.raises(DataFileError, match="bad header: magic number 12345"):
        get_dataset("smallnorb", path=tmp_path, split="training")
    dat_file.write_bytes(good[:6])
    with pytest.raises(DataFileError, match="short read: 6 bytes"):
        get_dataset("smallnorb", path=tmp_path, split="training")
    dat_file.write_bytes(good)
    cat_file = tmp_path / NORB.format("training", "cat")
    cat_file.write_bytes(_norb_bytes(np.zeros(3), 507333716))
    with pytest.raises(DataFileError, match="must hold int32 \\[4\\] to match the images"):
        get_dataset("smallnorb", path=tmp_path, split="training")
    cat_file.unlink()
    with pytest.raises(MissingDataError, match=f"{NORB.format('training', 'cat')} not found"):
        get_dataset("smallnorb", path=tmp_path, split="training")


# ---------------------------------------------------------------- MNIST (idx)
def _idx(array):
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("compressed", [False, True])
def test_mnist_idx(tmp_path, compressed):
    rs = np.random.RandomState(0)
    images, labels = rs.randint(0, 256, size=(5, 28, 28)).astype(np.uint8), rs.randint(10, size=5)
    for name, payload in [("train-images-idx3-ubyte", _idx(images)), ("train-labels-idx1-ubyte", _idx(labels))]:
        if compressed:
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(payload))
        else:
            (tmp_path / name).write_bytes(payload)
    data = get_dataset("mnist", path=tmp_path)
    assert data.images.shape == (5, 1, 28, 28) and data.images.dtype == torch.uint8
    assert torch.equal(data.images[:, 0], torch.from_numpy(images))
    np.testing.assert_array_equal(data.factors[:, 0], labels)
    assert data.factor_sizes == [10]


def test_mnist_corrupt_variants(tmp_path):
    images = np.zeros((5, 28, 28), np.uint8)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(np.arange(5)))
    image_file = tmp_path / "train-images-idx3-ubyte"
    with pytest.raises(MissingDataError, match="put the MNIST idx file train-images-idx3-ubyte\\(.gz\\) there"):
        get_dataset("mnist", path=tmp_path)
    image_file.write_bytes(_idx(images)[:-10])
    with pytest.raises(DataFileError, match="short read: header says \\[5, 28, 28\\]"):
        get_dataset("mnist", path=tmp_path)
    image_file.write_bytes(b"\x08\x03" + _idx(images)[2:])
    with pytest.raises(DataFileError, match="bad header: magic bytes 0803"):
        get_dataset("mnist", path=tmp_path)
    image_file.write_bytes(_idx(np.zeros((4, 28, 28))))
    with pytest.raises(DataFileError, match="must hold \\[4\\] labels to match the images"):
        get_dataset("mnist", path=tmp_path)
    image_file.unlink()
    noisy = np.random.RandomState(0).randint(0, 256, size=(5, 28, 28))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(noisy))[:500])
    with pytest.raises(DataFileError, match="is not a valid gzip file"):
        get_dataset("mnist", path=tmp_path)


# ---------------------------------------------------------------- CelebA (image folder)
def _jpeg(color):
    from PIL import Image

    img = Image.new("RGB", (178, 218), color)
    img.paste((255, 255, 255), (0, 0, 178, 35))  # a white band outside the 148 × 148 centre crop
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def test_celeba_folder_with_attributes(tmp_path):
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    colors = [(200, 10, 10), (10, 200, 10), (10, 10, 200)]
    for i, c in enumerate(colors):
        (folder / f"{i + 1:06d}.jpg").write_bytes(_jpeg(c))
    data = get_dataset("celeba", path=tmp_path)
    assert data.images.shape == (3, 3, 64, 64) and data.images.dtype == torch.uint8 and data.factors is None
    means = data.images.float().mean((2, 3))
    assert torch.allclose(means, torch.tensor(colors, dtype=torch.float32), atol=6)  # crop removed the band
    (tmp_path / "list_attr_celeba.txt").write_text(
        "3\nSmiling Young\n000001.jpg 1 -1\n000002.jpg -1 -1\n000003.jpg 1 1\n"
    )
    data = get_dataset("celeba", path=tmp_path, limit=2)
    assert data.factor_names == ["Smiling", "Young"] and data.factor_sizes == [2, 2]
    np.testing.assert_array_equal(data.factors, [[1, 0], [0, 0]])


def test_celeba_corrupt_image_and_missing(tmp_path):
    with pytest.raises(MissingDataError, match="no .jpg images in"):
        get_dataset("celeba", path=tmp_path)
    (tmp_path / "000001.jpg").write_bytes(_jpeg((0, 0, 0))[:200])
    with pytest.raises(DataFileError, match="000001.jpg: is not a readable image"):
        get_dataset("celeba", path=tmp_path)
