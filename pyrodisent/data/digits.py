"""scikit-learn's bundled handwritten digits: a small real data set that needs no download.

1,797 grayscale 8 × 8 images (UCI optical digits, values 0..16) with one factor, the digit
class (10). Images are scaled to [0, 1] floats: [1797, 1, 8, 8] float32.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from pyrodisent.data.base import FactorDataset


def digits() -> FactorDataset:
    """scikit-learn's bundled 8 × 8 digits: [1797, 1, 8, 8] float32 in [0, 1]; factor digit (10)."""
    bunch = load_digits()
    images = torch.as_tensor(bunch.images / 16.0, dtype=torch.float32).unsqueeze(1)
    factors = bunch.target.astype(np.int64)[:, None]
    return FactorDataset(images, factors, ("digit",), (10,), [np.arange(10.0)], name="digits")
