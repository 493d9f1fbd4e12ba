"""Images per second of the batch samplers (pyrodisent.data.sampler) on generated dSprites.

    python benchmarks/data_throughput.py                    # CPU, a 46,080-image sub-grid
    python benchmarks/data_throughput.py --device cuda --full   # GPU, all 737,280 images

Paths measured: ``device`` (the uint8/bool tensor on the device, index + gather + float
per batch), ``packed`` (bits on the device, unpacked per batch) and ``stream`` (host
memory, pinned buffers on CUDA, one copy per batch). Each batch is produced as the float
[B, 1, 64, 64] tensor the training step consumes; CUDA timings synchronise at the end.
"""

from __future__ import annotations

import argparse
import time

import torch

from pyrodisent.data.dsprites import generated_dsprites
from pyrodisent.data.sampler import (
    PackedDeviceBatchSampler,
    StreamingBatchSampler,
    make_batch_sampler,
)


def measure(sampler, steps: int, device: torch.device) -> float:
    for _ in range(5):  # warm-up (allocator, kernels)
        sampler.next_batch()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    checksum = 0.0
    for i in range(steps):
        batch = sampler.next_batch()
        if i == steps - 1:
            checksum = float(batch.sum())  # forces the last batch (and, on CUDA, all before it)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    assert checksum >= 0
    return steps * sampler.indices.batch_size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--full", action="store_true", help="the full 737,280-image grid (3.0 GB as bytes)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = torch.device(args.device)

    start = time.perf_counter()
    data = generated_dsprites() if args.full else generated_dsprites(orientations=10, positions=16)
    render_s = time.perf_counter() - start
    print(f"rendered {len(data):,} images of 64×64 in {render_s:.1f} s "
          f"({len(data) / render_s:,.0f} images/s); device {device}, batch {args.batch_size}")

    samplers = {
        "device": lambda: make_batch_sampler(data, args.batch_size, device, args.seed),
        "packed": lambda: PackedDeviceBatchSampler(data.images, args.batch_size, device, args.seed),
        "stream": lambda: StreamingBatchSampler(data.images, args.batch_size, device, args.seed),
    }
    for name, build in samplers.items():
        start = time.perf_counter()
        sampler = build()
        setup_s = time.perf_counter() - start
        rate = measure(sampler, args.steps, device)
        print(f"{name:7s} {type(sampler).__name__:26s} setup {setup_s:6.2f} s   {rate:14,.0f} images/s")
        del sampler
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
