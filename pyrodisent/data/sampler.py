"""Random training batches without a DataLoader.

Three samplers share one interface — ``next_batch() -> float [B, C, H, W]`` on the target
device, ``state_dict()`` / ``load_state_dict()`` for the random state (a resumed run draws
the same batches) — and :func:`make_batch_sampler` picks one:

* :class:`DeviceBatchSampler` keeps the whole (uint8 / bool / float) image tensor on the
  device, draws indices there with a device ``torch.Generator`` and converts only the
  batch to float: no host round-trip, no host sync per step.
* :class:`PackedDeviceBatchSampler` does the same for binary images stored as bits
  (8 pixels per byte; dSprites: 3.0 GB as bytes, 377 MB as bits) and unpacks each batch
  on the device.
* :class:`StreamingBatchSampler` keeps the images on the host (or in a lazily read file),
  gathers each batch into a reused pinned buffer and copies it asynchronously.

Batches are drawn without replacement within an epoch (a fresh permutation of all N
items per epoch; the last incomplete batch of an epoch is dropped), or with replacement
(``replacement=True``: B uniform indices per step, like disentanglement_lib).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pyrodisent.data.base import FactorDataset

#: fraction of free device memory the data may take when ``max_device_bytes`` is not given
DEFAULT_DEVICE_FRACTION = 0.5


def _device(device: str | torch.device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def _storage(images: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(tensor to gather from, is_binary): bool images are gathered through a uint8 view
    (same bytes; PyTorch's CPU gather of bool is ~100× slower than of uint8)."""
    if images.dtype == torch.bool:
        return images.view(torch.uint8), True
    return images, False


def _to_float(batch: torch.Tensor, binary: bool) -> torch.Tensor:
    """0/1 bytes of binary images → 0/1 floats; otherwise :meth:`FactorDataset.batch_to_float`."""
    if binary:
        return batch.float()
    return FactorDataset.batch_to_float(batch)


def _make_generator(generator: int | torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device``: the given one if it already lives there, else one seeded from it."""
    if isinstance(generator, torch.Generator):
        if torch.device(generator.device).type == device.type:
            return generator
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    elif isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        seed = int(generator)
    else:
        raise TypeError(
            f"generator must be an int seed or a torch.Generator, got {generator!r} "
            "(library code never uses the global RNG)"
        )
    return torch.Generator(device=device).manual_seed(seed)


class _IndexStream:
    """Batch indices on one device: epoch permutations or uniform draws, with resumable state."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, device: torch.device, replacement: bool):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not replacement and batch_size > n:
            raise ValueError(
                f"batch_size={batch_size} exceeds the dataset size {n}; use a smaller batch or replacement=True"
            )
        self.n, self.batch_size, self.generator, self.device = n, int(batch_size), generator, device
        self.replacement = replacement
        self.epoch = 0
        self.cursor = 0
        self._perm: torch.Tensor | None = None
        self._epoch_state: torch.Tensor | None = None

    def next(self) -> torch.Tensor:
        if self.replacement:
            return torch.randint(0, self.n, (self.batch_size,), generator=self.generator, device=self.device)
        if self._perm is None or self.cursor + self.batch_size > self.n:
            if self._perm is not None:
                self.epoch += 1
            self._new_epoch()
        idx = self._perm[self.cursor : self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return idx

    def _new_epoch(self) -> None:
        self._epoch_state = self.generator.get_state()
        self._perm = torch.randperm(self.n, generator=self.generator, device=self.device)
        self.cursor = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "epoch_state": self._epoch_state,
            "epoch": self.epoch,
            "cursor": self.cursor,
            "replacement": self.replacement,
            "num_items": self.n,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_sampler_state(state, {"replacement": self.replacement, "num_items": self.n, "batch_size": self.batch_size})
        if state["epoch_state"] is not None:  # rebuild the epoch's permutation
            restore_generator(self.generator, state["epoch_state"])
            self._new_epoch()
        else:
            self._perm, self._epoch_state = None, None
        restore_generator(self.generator, state["generator"])
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])


def check_sampler_state(state: dict[str, Any], expected: dict[str, Any]) -> None:
    """A saved sampler state must have been saved by a sampler with these settings."""
    for key, value in expected.items():
        if state.get(key) != value:
            raise ValueError(f"sampler state has {key}={state.get(key)!r} but this sampler has {key}={value!r}")


def restore_generator(generator: torch.Generator, saved: torch.Tensor) -> None:
    """``generator.set_state(saved)``; states are CPU byte tensors, even when a checkpoint was
    loaded onto a GPU, and a state of another device type is a clear error."""
    try:
        generator.set_state(saved.cpu())
    except RuntimeError as exc:
        raise ValueError(
            f"sampler state does not fit a {generator.device.type} generator (saved on another device type?): {exc}"
        ) from None


class DeviceBatchSampler:
    """The whole data set on ``device``; index, gather and float conversion happen there."""

    kind = "device"

    def __init__(
        self,
        images: torch.Tensor,
        batch_size: int,
        device: str | torch.device,
        generator: int | torch.Generator,
        replacement: bool = False,
    ):
        self.device = _device(device)
        stored, self._binary = _storage(images)
        self.images = stored.to(self.device)
        self.indices = _IndexStream(
            len(images), batch_size, _make_generator(generator, self.device), self.device, replacement
        )
        # integer images are gathered into one reused buffer (the float batch is always new)
        self._gathered = None
        if not self.images.is_floating_point():
            self._gathered = torch.empty((self.indices.batch_size, *self.images.shape[1:]), dtype=self.images.dtype, device=self.device)

    @property
    def dataset_size(self) -> int:
        return self.indices.n

    def next_batch(self) -> torch.Tensor:
        if self._gathered is None:
            return self.images.index_select(0, self.indices.next())
        torch.index_select(self.images, 0, self.indices.next(), out=self._gathered)
        return _to_float(self._gathered, self._binary)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.indices.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.indices.load_state_dict(state)


class PackedDeviceBatchSampler(DeviceBatchSampler):
    """Binary images kept on ``device`` as bits, 8 pixels per byte, unpacked per batch."""

    kind = "packed"

    def __init__(self, images, batch_size, device, generator, replacement: bool = False):
        if images.dtype != torch.bool:
            raise ValueError(f"bit packing needs bool images, got {images.dtype}")
        self.device = _device(device)
        self.shape = tuple(images.shape[1:])
        self.num_pixels = int(np.prod(self.shape))
        packed = np.packbits(images.reshape(len(images), -1).numpy(), axis=1)  # [N, ceil(P/8)] uint8
        self.images = torch.from_numpy(packed).to(self.device)
        # bits of every byte value, most significant first (np.packbits order): [256, 8] floats
        self._bits = ((torch.arange(256).view(-1, 1) >> torch.arange(7, -1, -1)) & 1).float().to(self.device)
        self.indices = _IndexStream(
            len(images), batch_size, _make_generator(generator, self.device), self.device, replacement
        )

    def next_batch(self) -> torch.Tensor:
        rows = self.images.index_select(0, self.indices.next())  # [B, P/8] bytes
        bits = self._bits.index_select(0, rows.view(-1).int())  # [B·P/8, 8]: one look-up per byte
        return bits.view(len(rows), -1)[:, : self.num_pixels].reshape(-1, *self.shape)


class StreamingBatchSampler:
    """Images stay on the host (a tensor, or an array-like such as an HDF5 dataset).

    Indices come from a CPU generator; each batch is gathered into one of two reused
    (pinned, when the target is CUDA) host buffers and copied with ``non_blocking=True``;
    the float conversion runs on the device. Array-likes are read with sorted indices
    (as h5py requires) and put back in the drawn order.
    """

    kind = "stream"

    def __init__(self, images, batch_size, device, generator, replacement: bool = False, pin_memory: bool | None = None):
        self.device = _device(device)
        self._binary = torch.is_tensor(images) and images.dtype == torch.bool
        self.images = _storage(images)[0] if torch.is_tensor(images) else images
        self.shape = tuple(images.shape[1:])
        self.indices = _IndexStream(
            int(images.shape[0]), batch_size, _make_generator(generator, torch.device("cpu")), torch.device("cpu"), replacement
        )
        cuda = self.device.type == "cuda"
        self.pin_memory = cuda if pin_memory is None else bool(pin_memory and cuda)
        dtype = self.images.dtype if torch.is_tensor(images) else torch.from_numpy(np.zeros(0, dtype=images.dtype)).dtype
        self._buffers = [
            torch.empty((self.indices.batch_size, *self.shape), dtype=dtype, pin_memory=self.pin_memory)
            for _ in range(2)
        ]
        self._events: list[Any] = [None, None]
        self._turn = 0

    @property
    def dataset_size(self) -> int:
        return self.indices.n

    def _gather(self, idx: torch.Tensor, out: torch.Tensor) -> None:
        if torch.is_tensor(self.images):
            torch.index_select(self.images, 0, idx, out=out)
            return
        order = np.argsort(idx.numpy(), kind="stable")
        sorted_idx = idx.numpy()[order]
        unique, inverse = np.unique(sorted_idx, return_inverse=True)
        block = np.asarray(self.images[unique])[inverse]  # h5py needs increasing, unique indices
        out[torch.from_numpy(order)] = torch.from_numpy(block)

    def next_batch(self) -> torch.Tensor:
        turn, self._turn = self._turn, 1 - self._turn
        if self._events[turn] is not None:
            self._events[turn].synchronize()  # the copy that last read this buffer is done
        buffer = self._buffers[turn]
        self._gather(self.indices.next(), buffer)
        batch = buffer.to(self.device, non_blocking=self.pin_memory)
        if self.device.type == "cuda":
            event = torch.cuda.Event()
            event.record()
            self._events[turn] = event
        out = _to_float(batch, self._binary)
        if out.data_ptr() == buffer.data_ptr():
            out = out.clone()  # float images on a CPU target: never hand out the reused buffer
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.indices.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.indices.load_state_dict(state)


def make_batch_sampler(
    dataset: FactorDataset | torch.Tensor,
    batch_size: int,
    device: str | torch.device,
    generator: int | torch.Generator,
    max_device_bytes: int | None = None,
    replacement: bool = False,
    packed: bool | None = None,
):
    """The fastest sampler that fits: whole data on the device, bit-packed, or streamed.

    ``max_device_bytes``: how much device memory the data may take; default: half the free
    memory of a CUDA device, unlimited for the CPU. Binary (bool) images that do not fit as
    bytes but fit as bits use the packed sampler (``packed=True`` forces it, ``False`` rules
    it out). ``generator``: an int seed or a ``torch.Generator``.
    """
    images = dataset.images if isinstance(dataset, FactorDataset) else dataset
    device = _device(device)
    if max_device_bytes is None:
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            max_device_bytes = int(free * DEFAULT_DEVICE_FRACTION)
        else:
            max_device_bytes = None
    in_memory = torch.is_tensor(images)
    nbytes = images.numel() * images.element_size() if in_memory else None
    fits = in_memory and (max_device_bytes is None or nbytes <= max_device_bytes)
    if packed and (not in_memory or images.dtype != torch.bool):
        raise ValueError("packed=True needs in-memory bool images")
    if packed:
        return PackedDeviceBatchSampler(images, batch_size, device, generator, replacement)
    if fits:
        return DeviceBatchSampler(images, batch_size, device, generator, replacement)
    if in_memory and packed is None and images.dtype == torch.bool:
        packed_bytes = len(images) * ((int(np.prod(images.shape[1:])) + 7) // 8)
        if max_device_bytes is None or packed_bytes <= max_device_bytes:
            return PackedDeviceBatchSampler(images, batch_size, device, generator, replacement)
    return StreamingBatchSampler(images, batch_size, device, generator, replacement)
