"""dSprites: a renderer over the exact factor grid (no download) and the ``.npz`` loader.

Factor grid of dSprites (Matthey et al. 2017; docs/datasets.md), in row-major order with the
last factor fastest:

=============  ====  =========================================================
factor         size  values
=============  ====  =========================================================
shape          3     square, ellipse, heart
scale          6     linspace(0.5, 1, 6)
orientation    40    2π·k/40, k = 0..39 (the released file uses linspace(0, 2π, 40))
posX           32    linspace(0, 1, 32)
posY           32    linspace(0, 1, 32)
=============  ====  =========================================================

3·6·40·32·32 = 737,280 binary 64 × 64 images. The constant ``color`` factor of the file
(size 1) is dropped: a one-class factor has zero entropy and breaks MIG-style metrics.

The renderer (:func:`generated_dsprites`) draws each shape as the indicator of an implicit
region evaluated at pixel centres (no antialiasing). A shape at position (posX, posY) has
its centre at pixel coordinates (16.5 + 31·posX, 16.5 + 31·posY) of the 64-pixel frame,
so neighbouring positions are exactly one pixel apart; posY grows downwards (image rows).
Local coordinates (u, v) are the offsets rotated by the orientation θ (counter-clockwise)
and divided by r = 10·scale pixels:

* square:  max(|u|, |v|) ≤ 0.8
* ellipse: u² + (2v)² ≤ 1
* heart:   (a² + b² − 1)³ − a²·b³ ≤ 0 with (a, b) = 1.15·(u, v + 0.1)

It reproduces the factor semantics and grid of dSprites, not its exact pixels.
Because positions are whole-pixel shifts, the renderer draws one sprite per
(shape, scale, orientation) and copies shifted windows of it: the full grid renders in
seconds on a CPU.

Both the renderer and the file loader take ``variant="color"|"noisy"|"scream"``, the RGB
variants of Locatello et al. 2019 with the same factors (``pyrodisent.data.dsprites_variants``).
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from pyrodisent.data.base import FactorDataset
from pyrodisent.data.dsprites_variants import apply_variant, prepare_variant
from pyrodisent.data.paths import DataFileError, resolve_file

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
IMAGE_SIZE = 64
NPZ_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"

_CENTRE_OFFSET = 16.5  # pixel coordinate of position index 0
_SPRITE_RADIUS = 10.0  # r at scale 1, in pixels


def factor_values(orientation_endpoint: bool = False) -> list[np.ndarray]:
    """Physical values of the full grid (orientation as in the file if ``orientation_endpoint``)."""
    orientation = (
        np.linspace(0.0, 2 * math.pi, 40) if orientation_endpoint else 2 * math.pi * np.arange(40) / 40
    )
    return [
        np.arange(3, dtype=np.float64),
        np.linspace(0.5, 1.0, 6),
        orientation,
        np.linspace(0.0, 1.0, 32),
        np.linspace(0.0, 1.0, 32),
    ]


def _subgrid(name: str, count: int | None, size: int, circular: bool = False) -> np.ndarray:
    """Evenly spaced class indices of one factor: endpoints kept, or every size/count-th on a circle."""
    if count is None:
        return np.arange(size)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= size:
        raise ValueError(f"generated_dsprites: {name} must be an int in [1, {size}], got {count!r}")
    if circular:
        return (np.arange(count) * size) // count
    if count == 1:
        return np.array([0])
    return np.round(np.linspace(0, size - 1, count)).astype(np.int64)


def _shape_mask(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if shape == 0:
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if shape == 1:
        return u * u + 4.0 * v * v <= 1.0
    a, b = 1.15 * u, 1.15 * (v + 0.1)
    return (a * a + b * b - 1.0) ** 3 - a * a * b**3 <= 0.0


def render_sprites(shape: int, scale: float, orientations: np.ndarray, canvas: int) -> np.ndarray:
    """[O, canvas, canvas] bool sprites centred at pixel coordinate (canvas − 64 + 16.5).

    NumPy (single-threaded): for these small arrays it is faster than torch's threaded ops.
    """
    centre = canvas - IMAGE_SIZE + _CENTRE_OFFSET
    coords = np.arange(canvas, dtype=np.float64) + 0.5 - centre
    dx = coords.reshape(1, 1, canvas)  # columns
    dy = -coords.reshape(1, canvas, 1)  # rows grow downwards; v points up
    theta = np.asarray(orientations, dtype=np.float64).reshape(-1, 1, 1)
    cos, sin = np.cos(theta), np.sin(theta)
    r = _SPRITE_RADIUS * scale
    u = (cos * dx + sin * dy) / r
    v = (-sin * dx + cos * dy) / r
    return _shape_mask(shape, u, v)


def render(factors: np.ndarray, orientation_endpoint: bool = False) -> torch.Tensor:
    """[n, 1, 64, 64] bool images for full-grid factor classes ``factors`` [n, 5] (any order)."""
    factors = np.asarray(factors, dtype=np.int64)
    if factors.ndim != 2 or factors.shape[1] != 5:
        raise ValueError(f"render: factors must be [n, 5] ({', '.join(FACTOR_NAMES)}), got {factors.shape}")
    bad = (factors < 0) | (factors >= np.array(FACTOR_SIZES))
    if bad.any():
        raise ValueError(f"render: factor classes out of range {FACTOR_SIZES}: {factors[bad.any(1)][0]}")
    values = factor_values(orientation_endpoint)
    canvas = IMAGE_SIZE + FACTOR_SIZES[3] - 1
    out = np.empty((len(factors), 1, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    keys = factors[:, 0] * 240 + factors[:, 1] * 40 + factors[:, 2]
    for key in np.unique(keys):
        rows = np.nonzero(keys == key)[0]
        shape, scale, orient = int(key // 240), int(key // 40 % 6), int(key % 40)
        sprite = render_sprites(shape, values[1][scale], values[2][[orient]], canvas)[0]
        for i in rows:
            x, y = int(factors[i, 3]), int(factors[i, 4])
            top, left = canvas - IMAGE_SIZE - y, canvas - IMAGE_SIZE - x
            out[i, 0] = sprite[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]
    return torch.from_numpy(out)


def _block_mean_uint8(images: torch.Tensor, k: int, chunk: int = 65536) -> torch.Tensor:
    """[N, 1, 64, 64] bool → [N, 1, 64/k, 64/k] uint8: round(255 · mean of each k × k block)."""
    n, c, h, w = images.shape
    out = torch.empty((n, c, h // k, w // k), dtype=torch.uint8)
    for start in range(0, n, chunk):  # chunks bound the float copy to ~1 GB
        block = images[start : start + chunk].view(torch.uint8).float()
        mean = torch.nn.functional.avg_pool2d(block, k)
        out[start : start + chunk] = mean.mul_(255.0).round_().to(torch.uint8)
    return out


def generated_dsprites(
    shapes: int | None = None,
    scales: int | None = None,
    orientations: int | None = None,
    positions: int | None = None,
    positions_x: int | None = None,
    positions_y: int | None = None,
    dtype: str | None = None,
    orientation_endpoint: bool = False,
    image_size: int = IMAGE_SIZE,
    variant: str | None = None,
    seed: int = 0,
    scream_image: str | Path | None = None,
) -> FactorDataset:
    """A dSprites-equivalent data set rendered on the machine (module docstring).

    Each count option takes that many evenly spaced classes of the full grid (endpoints
    kept for scale and position, every (40/count)-th step for orientation); ``None`` keeps
    all. ``positions`` sets both position counts. Factor classes are renumbered 0..count−1
    and ``factor_values`` holds the physical values, so a sub-grid is again a full grid of
    its own; a factor held at one class is constant and is left out of ``factors`` (its value
    is in ``fixed_factors``). ``dtype``: ``"bool"`` (1 byte per pixel, the default at 64 × 64) or ``"uint8"``
    (0/255). The full grid takes 737,280 × 4096 bytes = 3.0 GB.

    ``image_size`` (64, 32 or 16) shrinks the 64 × 64 frame by averaging each block of
    (64 / image_size)² pixels: an antialiased grey-level image (uint8, the fraction of the
    block the shape covers), 4× (16×) cheaper per image for the networks, with the same
    factors; neighbouring positions then lie half (a quarter of) a pixel apart.

    ``variant`` (``"color"``, ``"noisy"``, ``"scream"``; default none) makes the RGB
    variants of Locatello et al. 2019 (``pyrodisent.data.dsprites_variants``): [N, 3, H, W]
    images, ``dtype`` ``"uint8"`` (default; 3× the bytes of the bool images) or
    ``"float32"``, with the colour, noise or background patch of each image drawn once from
    ``seed``. ``scream_image``: the image whose patches are the backgrounds of ``"scream"``
    (required by it). The factors are the same.
    """
    if image_size not in (64, 32, 16):
        raise ValueError(f"generated_dsprites: image_size must be 64, 32 or 16, got {image_size!r}")
    background = None
    if variant is not None or scream_image is not None:
        dtype, seed, background = prepare_variant("generated_dsprites", variant, dtype, seed, scream_image)
    if dtype is None:
        dtype = "bool" if image_size == IMAGE_SIZE else "uint8"
    if variant is None and dtype not in ("bool", "uint8"):
        raise ValueError(f"generated_dsprites: dtype must be 'bool' or 'uint8', got {dtype!r}")
    if dtype == "bool" and image_size != IMAGE_SIZE:
        raise ValueError(
            f"generated_dsprites: image_size {image_size} averages pixel blocks into grey levels, "
            "which dtype 'bool' cannot hold; use dtype 'uint8' (the default for image_size < 64)"
        )
    if positions is not None and (positions_x is not None or positions_y is not None):
        raise ValueError("generated_dsprites: pass either positions or positions_x/positions_y, not both")
    if positions is not None:
        positions_x = positions_y = positions
    chosen = [
        _subgrid("shapes", shapes, 3),
        _subgrid("scales", scales, 6),
        _subgrid("orientations", orientations, 40, circular=True),
        _subgrid("positions_x", positions_x, 32),
        _subgrid("positions_y", positions_y, 32),
    ]
    sizes = [len(c) for c in chosen]
    values = factor_values(orientation_endpoint)
    canvas = IMAGE_SIZE + FACTOR_SIZES[3] - 1
    n = int(np.prod(sizes))
    images = np.empty((n, 1, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    block = sizes[3] * sizes[4]
    top = canvas - IMAGE_SIZE - chosen[4]  # window row of each posY
    left = canvas - IMAGE_SIZE - chosen[3]  # window column of each posX
    start = 0
    for shape in chosen[0]:
        for scale in chosen[1]:
            sprites = render_sprites(int(shape), values[1][scale], values[2][chosen[2]], canvas)
            for sprite in sprites:
                windows = np.lib.stride_tricks.sliding_window_view(sprite, (IMAGE_SIZE, IMAGE_SIZE))  # [T, L, 64, 64]
                # posX slower than posY (posY fastest), as in the file.
                target = images[start : start + block].reshape(sizes[3], sizes[4], IMAGE_SIZE, IMAGE_SIZE)
                target[...] = windows[top[None, :], left[:, None]]
                start += block
    images = torch.from_numpy(images)
    if image_size != IMAGE_SIZE:
        images = _block_mean_uint8(images, IMAGE_SIZE // image_size)
    grids = np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij")
    factors = np.stack([g.reshape(-1) for g in grids], axis=1)
    if variant is not None:
        images = apply_variant(images, variant, seed, dtype, background)
    elif dtype == "uint8" and images.dtype == torch.bool:
        images = images.view(torch.uint8).mul_(255)  # in place: 0/1 bytes → 0/255
    # A factor held at one class (e.g. ``orientations: 1``) is constant: zero entropy, which
    # MIG-style metrics divide by. It is dropped, as the file's constant colour is.
    varying = [k for k in range(5) if sizes[k] > 1]
    dataset = FactorDataset(
        images,
        factors[:, varying],
        [FACTOR_NAMES[k] for k in varying],
        [sizes[k] for k in varying],
        [values[k][chosen[k]] for k in varying],
        name="generated_dsprites",
    )
    dataset.grid_classes = chosen  # full-grid class of each sub-grid class, all five factors
    dataset.fixed_factors = {FACTOR_NAMES[k]: float(values[k][chosen[k][0]]) for k in range(5) if sizes[k] == 1}
    if variant is not None:
        dataset.variant, dataset.variant_seed = variant, seed
    return dataset


def dsprites(
    path: str | Path | None = None,
    dtype: str | None = None,
    variant: str | None = None,
    seed: int = 0,
    scream_image: str | Path | None = None,
) -> FactorDataset:
    """The released dSprites file ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

    Keys: ``imgs`` [737280, 64, 64] uint8 in {0, 1}, ``latents_classes`` [737280, 6] and
    ``latents_values`` [737280, 6] (color, shape, scale, orientation, posX, posY). Any
    number of rows is accepted as long as the arrays agree (tests write tiny files); the
    constant color column is dropped. ``path``: the file, or a folder holding it; default
    ``$PYRODISENT_DATA/dsprites/<file>``. ``dtype``: ``"bool"`` (default) or ``"uint8"``.

    ``variant``, ``seed``, ``scream_image``: the RGB variants, as for
    :func:`generated_dsprites` (``dtype`` ``"uint8"`` by default, or ``"float32"``); the
    full file then takes 9.1 GB as uint8, besides the 3.0 GB read from the file.
    """
    background = None
    if variant is not None or scream_image is not None:
        dtype, seed, background = prepare_variant("dsprites", variant, dtype, seed, scream_image)
    elif dtype is None:
        dtype = "bool"
    if variant is None and dtype not in ("bool", "uint8"):
        raise ValueError(f"dsprites: dtype must be 'bool' or 'uint8', got {dtype!r}")
    file = resolve_file("dsprites", path, NPZ_FILE)
    try:
        archive = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFileError(file, f"cannot be read as an .npz archive ({type(exc).__name__}: {exc})") from None
    with archive:
        for key in ("imgs", "latents_classes"):
            if key not in archive.files:
                raise DataFileError(file, f"has no array {key!r} (keys: {archive.files})")
        try:
            imgs = archive["imgs"]
            classes = archive["latents_classes"]
            values = archive["latents_values"] if "latents_values" in archive.files else None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataFileError(file, f"is truncated or corrupt ({type(exc).__name__}: {exc})") from None
    if imgs.ndim != 3 or imgs.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataFileError(file, f"'imgs' must be [N, 64, 64], got {imgs.shape}")
    if classes.ndim != 2 or classes.shape != (imgs.shape[0], 6):
        raise DataFileError(file, f"'latents_classes' must be [{imgs.shape[0]}, 6], got {classes.shape}")
    if imgs.dtype != np.uint8 or imgs.max(initial=0) > 1:
        raise DataFileError(file, f"'imgs' must be uint8 in {{0, 1}}, got {imgs.dtype} with max {imgs.max(initial=0)}")
    factors = classes[:, 1:].astype(np.int64)
    if (factors < 0).any() or (factors >= np.array(FACTOR_SIZES)).any():
        raise DataFileError(file, f"'latents_classes' has classes outside the sizes {FACTOR_SIZES}")
    images = torch.from_numpy(imgs).view(torch.bool).unsqueeze(1)  # 0/1 bytes checked above: no copy
    if variant is not None:
        images = apply_variant(images, variant, seed, dtype, background)
    elif dtype == "uint8":
        images = images.view(torch.uint8).mul_(255)  # in place: 0/1 bytes → 0/255
    fv = factor_values(orientation_endpoint=True)
    if values is not None and values.shape == classes.shape:
        for k in range(5):  # take the file's own values where every class occurs
            col = values[:, k + 1]
            seen = np.unique(factors[:, k])
            if len(seen) == FACTOR_SIZES[k]:
                fv[k] = np.array([col[factors[:, k] == c][0] for c in range(FACTOR_SIZES[k])])
    dataset = FactorDataset(images, factors, FACTOR_NAMES, FACTOR_SIZES, fv, name="dsprites")
    if variant is not None:
        dataset.variant, dataset.variant_seed = variant, seed
    return dataset
