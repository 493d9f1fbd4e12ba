"""The colour, noisy and scream variants of dSprites (Locatello et al. 2019; disentanglement_lib).

Each variant turns a sprite image a ∈ [0, 1]^{H×W} (the binary dSprites image, or the
grey-level coverage of a shrunk one) into an RGB image x ∈ [0, 1]^{3×H×W}. The factors
are unchanged: colour, noise and background are nuisances drawn independently of them.

* ``color``:  x_c = a · c_c with c ~ U[0.5, 1]³ per image — the sprite in a random colour
  on black;
* ``noisy``:  x_c = min(a + u_c, 1) with u ~ U[0, 1]^{3×H×W} per image — a white sprite on
  uniform noise;
* ``scream``: b = (P + o) / 2, with P a random 64 × 64 patch of a background image (values
  in [0, 1]) and o ~ U[0, 1]³ per image, then x = b + a · (1 − 2b) — the colour-shifted
  patch, inverted (1 − b) where the sprite is.

For binary a these are disentanglement_lib's formulas exactly; for grey levels they
interpolate linearly between background and sprite. The background image (disentanglement_lib
uses Munch's *The Scream*; here the user supplies the file, nothing is downloaded) is
first shrunk, aspect ratio kept, to fit 350 × 274 pixels (width × height) as
disentanglement_lib does; the patch's top-left corner is uniform over all (H − 63)(W − 63)
positions (disentanglement_lib's ``randint(0, H − 64)`` never uses the last row and
column). At ``image_size`` 32 or 16 the 64 × 64 patch is block-averaged like the sprite,
so the background's scale does not depend on the image size; noise is drawn per output pixel.

Randomness is drawn once, when the data set is built, from ``np.random.default_rng(seed)``:
image i has one fixed colour, noise field or patch, so the data set is an ordinary
[N, 3, H, W] array that every sampler, the HDF5 cache and a resumed run use unchanged, and
the same seed gives the same images. disentanglement_lib draws the nuisance anew each time
an observation is sampled; here a model sees N fixed draws (737,280 for the full grid)
instead, and two observations of the same factors are the same image. The cost is memory:
3 bytes per pixel as uint8 (9.1 GB for the full grid, 3× the bool images), 12 as float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pyrodisent.data.paths import DataFileError, MissingDataError
from pyrodisent.validation import check_int

VARIANTS = ("color", "noisy", "scream")
SCREAM_BOX = (350, 274)  # (width, height) the background image is shrunk to fit, as disentanglement_lib
PATCH = 64
_CHUNK = 2048  # images per block (a float32 block of 2048 × 3 × 64 × 64 is 100 MB)


def prepare_variant(owner: str, variant, dtype, seed, scream_image) -> tuple[str, int, np.ndarray | None]:
    """Validate the variant options of ``owner``: (storage dtype, seed, background of ``scream``).

    Called before any image is made, so a wrong option or a missing ``scream_image`` fails
    at once; the dtype defaults to ``"uint8"``.
    """
    if variant != "scream" and scream_image is not None:
        raise ValueError(f"{owner}: scream_image is only used by variant 'scream', got variant {variant!r}")
    if variant not in VARIANTS:
        raise ValueError(f"{owner}: variant must be one of {list(VARIANTS)} or None, got {variant!r}")
    if dtype is None:
        dtype = "uint8"
    if dtype not in ("uint8", "float32"):
        raise ValueError(
            f"{owner}: variant {variant!r} makes RGB images in [0, 1]; dtype must be 'uint8' (default) or "
            f"'float32', got {dtype!r}"
        )
    if variant == "scream" and scream_image is None:
        raise ValueError(
            f"{owner}: variant 'scream' needs scream_image=PATH, an image file (PNG, JPEG, … or an .npy "
            "[H, W, 3] array) whose random patches become the backgrounds; nothing is downloaded"
        )
    seed = check_int(f"{owner}: seed", seed, 0)
    return dtype, seed, load_background(scream_image) if variant == "scream" else None


def load_background(path: str | Path) -> np.ndarray:
    """[3, H, W] float32 in [0, 1]: the image at ``path``, shrunk to fit 350 × 274 (aspect kept).

    PNG, JPEG and every other format Pillow reads, or an ``.npy`` [H, W, 3] array (uint8,
    or floats in [0, 1], rounded to 8 bits like an image file).
    """
    from PIL import Image, UnidentifiedImageError

    file = Path(path).expanduser()
    if not file.is_file():
        raise MissingDataError(f"scream_image: file {file} not found; pass the path of an image you supply")
    if file.suffix.lower() == ".npy":
        try:
            array = np.load(file, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataFileError(file, f"cannot be read as an .npy array ({type(exc).__name__}: {exc})") from None
        if array.ndim != 3 or array.shape[2] != 3:
            raise DataFileError(file, f"scream_image must be an [H, W, 3] array, got {list(array.shape)}")
        if array.dtype != np.uint8:
            if array.dtype.kind != "f" or not np.all((array >= 0) & (array <= 1)):
                raise DataFileError(file, f"scream_image must be uint8 or floats in [0, 1], got {array.dtype}")
            array = np.rint(array * 255).astype(np.uint8)
        image = Image.fromarray(array, "RGB")
    else:
        try:
            with Image.open(file) as opened:
                image = opened.convert("RGB")
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise DataFileError(file, f"is not a readable image ({type(exc).__name__}: {exc})") from None
    image.thumbnail(SCREAM_BOX)  # in place; never enlarges
    if min(image.size) < PATCH:
        raise DataFileError(
            file, f"is {image.size[0]} × {image.size[1]} after fitting into 350 × 274; a 64 × 64 patch needs at least 64 × 64"
        )
    return np.ascontiguousarray(np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0)


def apply_variant(
    images: torch.Tensor, variant: str, seed: int, dtype: str = "uint8", background: np.ndarray | None = None
) -> torch.Tensor:
    """[N, 1, H, W] sprites (bool, or uint8 grey levels 0…255) → [N, 3, H, W] ``dtype`` images.

    ``background``: the [3, H', W'] array of :func:`load_background` (variant ``scream``).
    uint8 output is round(255 · x); float32 output is x itself.
    """
    n, _, h, w = images.shape
    if PATCH % h or h != w:
        raise ValueError(f"apply_variant: images must be square with a side dividing 64, got {h} × {w}")
    rng = np.random.default_rng(seed)
    # Per-image draws first, then the noise block by block from the same stream: the images
    # do not depend on the block size.
    if variant == "color":
        colors = rng.uniform(0.5, 1.0, size=(n, 3, 1, 1)).astype(np.float32)
    elif variant == "scream":
        if background is None:
            raise ValueError("apply_variant: variant 'scream' needs the background array")
        rows = rng.integers(0, background.shape[1] - PATCH + 1, size=n)
        cols = rng.integers(0, background.shape[2] - PATCH + 1, size=n)
        shifts = rng.uniform(0.0, 1.0, size=(n, 3, 1, 1)).astype(np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(background, (PATCH, PATCH), axis=(1, 2))
    elif variant != "noisy":
        raise ValueError(f"apply_variant: variant must be one of {list(VARIANTS)}, got {variant!r}")
    out = torch.empty((n, 3, h, w), dtype=torch.uint8 if dtype == "uint8" else torch.float32)
    scale = 1.0 if images.dtype == torch.bool else 1.0 / 255.0
    for start in range(0, n, _CHUNK):  # in-place torch ops: one float block at a time
        stop = min(start + _CHUNK, n)
        sprite = images[start:stop].to(torch.float32).mul_(scale)  # [b, 1, h, w]
        if variant == "color":
            x = sprite * torch.from_numpy(colors[start:stop])
        elif variant == "noisy":
            x = torch.from_numpy(rng.random((stop - start, 3, h, w), dtype=np.float32)).add_(sprite).clamp_(max=1.0)
        else:
            patch = windows[:, rows[start:stop], cols[start:stop]].transpose(1, 0, 2, 3)  # [b, 3, 64, 64]
            if h != PATCH:
                k = PATCH // h
                patch = patch.reshape(stop - start, 3, h, k, w, k).mean((3, 5))
            b = torch.from_numpy(np.ascontiguousarray(patch)).add_(torch.from_numpy(shifts[start:stop])).mul_(0.5)
            x = b.mul(-2.0).add_(1.0).mul_(sprite).add_(b)  # b + a · (1 − 2b)
        if dtype == "uint8":
            x = x.mul_(255.0).round_()
        out[start:stop] = x
    return out
