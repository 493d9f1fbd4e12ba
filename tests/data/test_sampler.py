"""Batch samplers: same batches on every path, resumable state, the right path chosen."""

import numpy as np
import pytest
import torch

from pyrodisent.data.dsprites import generated_dsprites
from pyrodisent.data.sampler import (
    DeviceBatchSampler,
    PackedDeviceBatchSampler,
    StreamingBatchSampler,
    make_batch_sampler,
)


@pytest.fixture(scope="module")
def data():
    return generated_dsprites(orientations=4, positions=8)  # 4608 images, 18.9 MB as bool


def test_factory_chooses_by_memory(data):
    nbytes = data.images.numel()
    assert isinstance(make_batch_sampler(data, 32, "cpu", 0), DeviceBatchSampler)
    assert type(make_batch_sampler(data, 32, "cpu", 0, max_device_bytes=nbytes)) is DeviceBatchSampler
    packed = make_batch_sampler(data, 32, "cpu", 0, max_device_bytes=nbytes // 8)
    assert isinstance(packed, PackedDeviceBatchSampler) and packed.images.numel() == nbytes // 8
    assert isinstance(make_batch_sampler(data, 32, "cpu", 0, max_device_bytes=1000), StreamingBatchSampler)


@pytest.mark.parametrize("replacement", [False, True])
def test_every_path_draws_the_same_batches(data, replacement):
    nbytes = data.images.numel()
    samplers = [
        make_batch_sampler(data, 100, "cpu", 7, max_device_bytes=m, replacement=replacement)
        for m in (None, nbytes // 8, 1000)
    ]
    for _ in range(60):  # crosses epoch boundaries (46 batches per epoch)
        batches = [s.next_batch() for s in samplers]
        assert batches[0].dtype == torch.float32 and batches[0].shape == (100, 1, 64, 64)
        for b in batches[1:]:
            assert torch.equal(batches[0], b)


def test_epochs_visit_every_image_once():
    images = torch.arange(10, dtype=torch.float32).view(10, 1, 1, 1)
    sampler = make_batch_sampler(images, 5, "cpu", torch.Generator().manual_seed(0))
    for _ in range(3):
        seen = torch.cat([sampler.next_batch().flatten(), sampler.next_batch().flatten()])
        assert sorted(seen.tolist()) == list(range(10))


@pytest.mark.parametrize("max_bytes", [None, 4608 * 512, 1000])
def test_state_dict_resumes_the_same_batches(data, max_bytes):
    first = make_batch_sampler(data, 128, "cpu", 11, max_device_bytes=max_bytes)
    for _ in range(40):  # mid second epoch (36 batches per epoch)
        first.next_batch()
    state = first.state_dict()
    expected = [first.next_batch() for _ in range(10)]
    resumed = make_batch_sampler(data, 128, "cpu", 12345, max_device_bytes=max_bytes)
    resumed.load_state_dict(state)
    for e in expected:
        assert torch.equal(resumed.next_batch(), e)


def test_different_seeds_differ_and_bad_arguments(data):
    a = make_batch_sampler(data, 16, "cpu", 1).next_batch()
    b = make_batch_sampler(data, 16, "cpu", 2).next_batch()
    assert not torch.equal(a, b)
    with pytest.raises(ValueError, match="batch_size=5000 exceeds the dataset size 4608"):
        make_batch_sampler(data, 5000, "cpu", 0)
    with pytest.raises(TypeError, match="generator must be an int seed or a torch.Generator"):
        make_batch_sampler(data, 16, "cpu", None)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        make_batch_sampler(data, 0, "cpu", 0)
    state = make_batch_sampler(data, 16, "cpu", 0).state_dict()
    with pytest.raises(ValueError, match="batch_size=16"):
        make_batch_sampler(data, 32, "cpu", 0).load_state_dict(state)


def test_streaming_from_an_array_like_reads_sorted_indices():
    class SortedOnly:  # like an h5py dataset: fancy indices must increase
        def __init__(self, array):
            self.array, self.shape, self.dtype = array, array.shape, array.dtype

        def __getitem__(self, idx):
            assert np.all(np.diff(idx) > 0)
            return self.array[idx]

    array = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1)
    sampler = StreamingBatchSampler(SortedOnly(array), 8, "cpu", 5, replacement=True)
    reference = DeviceBatchSampler(torch.from_numpy(array), 8, "cpu", 5, replacement=True)
    for _ in range(20):
        assert torch.equal(sampler.next_batch(), reference.next_batch())


def test_state_survives_a_checkpoint_file(tmp_path, data):
    sampler = make_batch_sampler(data, 64, "cpu", torch.Generator().manual_seed(5))
    for _ in range(3):
        sampler.next_batch()
    torch.save({"sampler": sampler.state_dict()}, tmp_path / "ckpt.pt")
    expected = sampler.next_batch()
    resumed = make_batch_sampler(data, 64, "cpu", torch.Generator().manual_seed(6))
    resumed.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=True)["sampler"])
    assert torch.equal(resumed.next_batch(), expected)


def test_float_vector_data_and_packed_unpacking():
    vectors = torch.randn(30, 20)
    batch = make_batch_sampler(vectors, 7, "cpu", 0).next_batch()
    assert batch.shape == (7, 20) and batch.dtype == torch.float32
    assert all(any(torch.equal(row, v) for v in vectors) for row in batch)
    odd = torch.rand(40, 1, 3, 5) < 0.5  # 15 pixels: not a multiple of 8
    packed = make_batch_sampler(odd, 8, "cpu", 1, packed=True)
    plain = make_batch_sampler(odd, 8, "cpu", 1)
    assert isinstance(packed, PackedDeviceBatchSampler) and packed.images.shape == (40, 2)
    for _ in range(10):
        assert torch.equal(packed.next_batch(), plain.next_batch())
    with pytest.raises(ValueError, match="packed=True needs in-memory bool images"):
        make_batch_sampler(vectors, 7, "cpu", 0, packed=True)
