"""Encoder and decoder networks of the papers.

- ``mlp`` — β-STCVAE (Chen et al. 2022), App. B Table 1: encoder FC(width)+ReLU, then
  ``hidden_layers`` × [FC(width)+ReLU], then FC(2·D); decoder FC(width)+Tanh,
  ``hidden_layers`` × [FC(width)+Tanh], FC(prod(input_shape)). Works for any input shape
  (images or vectors).
- ``conv`` — RTC-VAE (Cheng et al. 2020), Table 2 (the β-TCVAE conv net): 4 × [4×4 conv stride 2
  pad 1, ReLU] with 32, 64, 64, 64 channels, a (H/16)×(W/16) conv to 512 + ReLU, a 1×1 conv to 2·D;
  the decoder mirrors it (1×1 upconv 512, (H/16)×(W/16) upconv 64, 4 × 4×4 upconv stride 2 with 64,
  32, 32, C channels). H and W must be divisible by 16 (64×64 in the paper).
- ``linear`` — PDisVAE (an anonymous ICLR submission) §4.1, whose synthetic data come from a
  linear map, so it trains a linear encoder and decoder: encoder one affine map
  x → [μ, raw σ] (2·D outputs), decoder one affine map z → x. ``hidden_width`` and ``hidden_layers`` are ignored. Works for any input shape.
- ``burgess`` — the "deep CNN VAE" of Burgess et al. 2018 (App. A.1), which PDisVAE §4.2
  trains on pdSprites: 4 × [4×4 conv, 32 channels, stride 2 pad 1, ReLU], FC 256 + ReLU,
  FC 256 + ReLU, FC 2·D; the decoder mirrors it (FC 256, FC 256, FC 32·H/16·W/16, 4 × 4×4
  upconv stride 2 with 32, 32, 32, C channels, ReLU between). H and W must be divisible by
  16 (32×32 and 64×64 both work).
- ``locatello`` — the conv net of Locatello et al. 2019 (App., Table 1; disentanglement_lib's
  ``conv_encoder`` / ``deconv_decoder``, also the net of its weakly-supervised study,
  Locatello et al. 2020): [4×4 conv 32, 4×4 conv 32, 2×2 conv 64, 2×2 conv 64], each stride 2
  and ReLU, FC 256 + ReLU, FC 2·D; the decoder FC 256 + ReLU, FC 64·(H/16)·(W/16) + ReLU, then
  4 × 4×4 upconv stride 2 with 64, 32, 32, C channels, ReLU between. H and W must be divisible
  by 16 (64×64 in the paper).
- ``conv_stcvae`` — Chen et al. 2022, App. B Table 2: 3 × [4×4 conv stride 2, LeakyReLU] with 16,
  32, 64 channels, ``hidden_layers`` × [FC(width)+ReLU], FC(2·D); decoder ``hidden_layers``
  × [FC(width)+Tanh], FC(H/8·W/8·64)+Tanh, 3 × 4×4 upconv stride 2 (32, 16, C), LeakyReLU
  between. H and W must be divisible by 8.

The last layer of every decoder is left linear (logits for a Bernoulli likelihood, means
for a Gaussian one); the tables' final activation would clip the likelihood's parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

ENCODERS = ("mlp", "linear", "conv", "burgess", "locatello", "conv_stcvae")


def _check_divisible(input_shape: Sequence[int], divisor: int, encoder: str) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ValueError(
            f"encoder {encoder!r} needs images (C, H, W); got input_shape {tuple(input_shape)}. "
            f"Use encoder='mlp' for vectors."
        )
    c, h, w = (int(v) for v in input_shape)
    if h % divisor or w % divisor:
        raise ValueError(
            f"encoder {encoder!r} needs H and W divisible by {divisor}; got {h}×{w}. Resize the "
            f"images or use encoder='mlp'."
        )
    return c, h, w


def _mlp(sizes: Sequence[int], activation: type[nn.Module]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
    return layers


def build_networks(
    encoder: str,
    input_shape: Sequence[int],
    latent_dim: int,
    hidden_width: int = 1000,
    hidden_layers: int = 1,
) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder); the encoder maps x to [B, 2·D], the decoder z to [B, *input_shape]."""
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
    input_shape = tuple(int(v) for v in input_shape)
    D, width = int(latent_dim), int(hidden_width)
    if encoder == "mlp":
        n = math.prod(input_shape)
        enc = nn.Sequential(
            nn.Flatten(), *_mlp([n] + [width] * (hidden_layers + 1), nn.ReLU), nn.Linear(width, 2 * D)
        )
        dec = nn.Sequential(
            *_mlp([D] + [width] * (hidden_layers + 1), nn.Tanh),
            nn.Linear(width, n),
            nn.Unflatten(1, input_shape),
        )
        return enc, dec
    if encoder == "linear":
        n = math.prod(input_shape)
        enc = nn.Sequential(nn.Flatten(), nn.Linear(n, 2 * D))
        dec = nn.Sequential(nn.Linear(D, n), nn.Unflatten(1, input_shape))
        return enc, dec
    if encoder == "burgess":
        c, h, w = _check_divisible(input_shape, 16, encoder)
        flat = 32 * (h // 16) * (w // 16)
        enc = nn.Sequential(
            nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(flat, 256), nn.ReLU(),
            nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, 2 * D),
        )  # fmt: skip
        dec = nn.Sequential(
            nn.Linear(D, 256), nn.ReLU(),
            nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, flat), nn.ReLU(),
            nn.Unflatten(1, (32, h // 16, w // 16)),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, c, 4, 2, 1),
        )  # fmt: skip
        return enc, dec
    if encoder == "locatello":
        c, h, w = _check_divisible(input_shape, 16, encoder)
        flat = 64 * (h // 16) * (w // 16)
        enc = nn.Sequential(
            nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 2, 2), nn.ReLU(),
            nn.Conv2d(64, 64, 2, 2), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(flat, 256), nn.ReLU(),
            nn.Linear(256, 2 * D),
        )  # fmt: skip
        dec = nn.Sequential(
            nn.Linear(D, 256), nn.ReLU(),
            nn.Linear(256, flat), nn.ReLU(),
            nn.Unflatten(1, (64, h // 16, w // 16)),
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, c, 4, 2, 1),
        )  # fmt: skip
        return enc, dec
    if encoder == "conv":
        c, h, w = _check_divisible(input_shape, 16, encoder)
        k = (h // 16, w // 16)
        enc = nn.Sequential(
            nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 512, k), nn.ReLU(),
            nn.Conv2d(512, 2 * D, 1), nn.Flatten(),
        )  # fmt: skip
        dec = nn.Sequential(
            nn.Unflatten(1, (D, 1, 1)),
            nn.ConvTranspose2d(D, 512, 1), nn.ReLU(),
            nn.ConvTranspose2d(512, 64, k), nn.ReLU(),
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, c, 4, 2, 1),
        )  # fmt: skip
        return enc, dec
    c, h, w = _check_divisible(input_shape, 8, encoder)
    flat = 64 * (h // 8) * (w // 8)
    enc = nn.Sequential(
        nn.Conv2d(c, 16, 4, 2, 1), nn.LeakyReLU(),
        nn.Conv2d(16, 32, 4, 2, 1), nn.LeakyReLU(),
        nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(),
        nn.Flatten(),
        *_mlp([flat] + [width] * hidden_layers, nn.ReLU),
        nn.Linear(width if hidden_layers else flat, 2 * D),
    )  # fmt: skip
    dec = nn.Sequential(
        *_mlp([D] + [width] * hidden_layers, nn.Tanh),
        nn.Linear(width if hidden_layers else D, flat), nn.Tanh(),
        nn.Unflatten(1, (64, h // 8, w // 8)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.LeakyReLU(),
        nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.LeakyReLU(),
        nn.ConvTranspose2d(16, c, 4, 2, 1),
    )  # fmt: skip
    return enc, dec


def split_posterior_parameters(h: torch.Tensor, min_scale: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder output [B, 2D] → (loc, scale) with scale = softplus(raw) + min_scale > 0."""
    loc, raw = h.chunk(2, dim=-1)
    return loc, nn.functional.softplus(raw) + min_scale
