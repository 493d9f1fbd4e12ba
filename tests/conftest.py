"""Shared fixtures: a tiny factor dataset registered as a runtime plugin, for fast engine tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyrodisent import hookimpl
from pyrodisent.data import FactorDataset
from pyrodisent.plugin_manager import get_plugin_manager


def make_tiny_squares(size: int = 16) -> FactorDataset:
    """Binary size×size images of a square; factors: side (3 values) × x (8) × y (8), y fastest."""
    sides, positions = [2, 3, 4], 8
    images = np.zeros((len(sides), positions, positions, 1, size, size), dtype=np.uint8)
    step = (size - max(sides)) / (positions - 1)
    for a, side in enumerate(sides):
        for i in range(positions):
            for j in range(positions):
                x, y = int(round(i * step)), int(round(j * step))
                images[a, i, j, 0, y : y + side, x : x + side] = 255
    factors = np.stack(np.meshgrid(np.arange(3), np.arange(8), np.arange(8), indexing="ij"), -1).reshape(-1, 3)
    return FactorDataset(
        torch.from_numpy(images.reshape(-1, 1, size, size)),
        factors,
        ["side", "x", "y"],
        [3, 8, 8],
        name="tiny_squares",
    )


class _TinyDataPlugin:
    @hookimpl
    def pyrodisent_datasets(self):
        return {"tiny_squares": make_tiny_squares}


@pytest.fixture
def tiny_data_plugin():
    manager = get_plugin_manager()
    name = manager.register_plugin(_TinyDataPlugin(), "tests-tiny-data")
    yield "tiny_squares"
    manager.unregister_plugin(name)


@pytest.fixture
def tiny_config(tiny_data_plugin):
    """A config that trains a small MLP β-TCVAE on tiny_squares in well under a second per 10 steps."""
    return {
        "seed": 3,
        "device": "cpu",
        "model": {"name": "vae", "encoder": "mlp", "latent_dim": 4, "hidden_width": 32, "hidden_layers": 0},
        "data": {"name": tiny_data_plugin},
        "regularizers": [{"name": "tc", "beta": 6.0}],
        "train": {"steps": 12, "batch_size": 16, "log_every": 3, "checkpoint_every": 4, "image_every": 6,
                  "optimizer": {"name": "adam", "lr": 0.001}},
    }
