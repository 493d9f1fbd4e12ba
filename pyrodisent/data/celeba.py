"""CelebA (Liu et al. 2015): the aligned image folder ``img_align_celeba/``.

202,599 JPEG files ``000001.jpg`` … of 178 × 218 pixels. Each is centre-cropped to a
148 × 148 square and downscaled to 64 × 64 with a box filter (PIL), giving
[N, 3, 64, 64] uint8, as in the CelebA experiments of PDisVAE (an anonymous ICLR submission,
§4.3, "cropped and rescaled to (3, 64, 64)"). If ``list_attr_celeba.txt`` lies beside the image
folder (or in it) its 40 binary attributes become the factors (2 classes each: −1 → 0, 1 → 1);
otherwise the data set has no factors (training only, no supervised metrics).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from pyrodisent.data.base import FactorDataset
from pyrodisent.data.paths import DataFileError, MissingDataError, resolve_dir

FOLDER = "img_align_celeba"
ATTRIBUTES = "list_attr_celeba.txt"
CROP = 148


def _load_image(file: Path, size: int, crop: int) -> np.ndarray:
    try:
        with Image.open(file) as img:
            img = img.convert("RGB")
            w, h = img.size
            c = min(crop, w, h)
            left, top = (w - c) // 2, (h - c) // 2
            img = img.crop((left, top, left + c, top + c)).resize((size, size), Image.BOX)
            return np.array(img, dtype=np.uint8)  # a writable copy for torch.from_numpy
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataFileError(file, f"is not a readable image ({type(exc).__name__}: {exc})") from None


def _read_attributes(file: Path, names: list[str]) -> tuple[np.ndarray, list[str]]:
    lines = file.read_text().splitlines()
    try:
        count = int(lines[0])
        header = lines[1].split()
        table = {}
        for line in lines[2 : 2 + count]:
            parts = line.split()
            table[parts[0]] = [int(v) for v in parts[1:]]
    except (IndexError, ValueError) as exc:
        raise DataFileError(file, f"is not a CelebA attribute list ({exc})") from None
    missing = [n for n in names if n not in table]
    if missing:
        raise DataFileError(file, f"has no row for {missing[0]} ({len(missing)} images missing)")
    values = np.array([table[n] for n in names])
    if values.shape[1] != len(header) or not np.isin(values, (-1, 1)).all():
        raise DataFileError(file, f"rows must hold {len(header)} values of −1 or 1")
    return (values > 0).astype(np.int64), header


def celeba(path: str | Path | None = None, size: int = 64, limit: int | None = None, crop: int = CROP) -> FactorDataset:
    """Load CelebA (``path``: the ``img_align_celeba`` folder or its parent; default ``$PYRODISENT_DATA/celeba/``).

    ``limit``: read only the first ``limit`` images (sorted by name).
    """
    folder = resolve_dir("celeba", path, f"the {FOLDER}/ folder of CelebA's aligned JPEG images")
    if (folder / FOLDER).is_dir():
        folder = folder / FOLDER
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise MissingDataError(f"celeba: no .jpg images in {folder}; put CelebA's {FOLDER}/ images there")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"celeba: limit must be a positive int, got {limit!r}")
        files = files[:limit]
    images = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    for i, file in enumerate(files):
        images[i] = torch.from_numpy(_load_image(file, size, crop)).permute(2, 0, 1)
    attr = next((p for p in (folder.parent / ATTRIBUTES, folder / ATTRIBUTES) if p.is_file()), None)
    if attr is None:
        data = FactorDataset(images, None, name="celeba")
    else:
        factors, names = _read_attributes(attr, [f.name for f in files])
        data = FactorDataset(images, factors, names, [2] * len(names), [np.array([-1.0, 1.0])] * len(names), name="celeba")
    data.files = [f.name for f in files]
    return data
