"""Plots a person would rather look at than read (matplotlib, Agg backend, PNG).

- :func:`plot_latent_traversals`: rows = latent dims, columns = z_d swept over
  [−range, range] from one observation's posterior mean, decoded by ``model.mean_image``.
- :func:`plot_group_traversals`: one panel per latent group — a grid over the group's two dims (a
  row for a one-dim group) between the 5th and 95th percentiles of the codes, the other dims at
  their medians (PDisVAE, an anonymous ICLR submission, Fig. 4(b): "varying one of the latent
  groups").
- :func:`plot_mi_heatmap`: the factor × latent mutual information I(z_d; v_k) / H(v_k)
  (the matrix MIG ranks; RTC-VAE, Cheng et al. 2020, Fig. 8 right).
- :func:`plot_latent_pairs`: pair plot of the mean codes coloured by one factor
  (Cheng et al. 2020, Fig. 5(d), Fig. 7), histograms on the diagonal.
- :func:`plot_latent_mi_matrix`: pairwise latent MI heatmap (β-STCVAE, Chen et al. 2022, Fig. 4).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from pyrodisent.metrics.latent_mi import latent_mi_matrix
from pyrodisent.metrics.mig import mutual_information_matrix
from pyrodisent.metrics.utils import Representation, check_random_state, discrete_entropy

MAX_PAIR_DIMS = 10


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def _image(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    """[C, H, W] → something imshow draws (grey for C = 1)."""
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = np.transpose(img, (1, 2, 0))
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0], "gray"
    return np.clip(img, 0, 1), None


def plot_latent_traversals(model, x: torch.Tensor, path, steps: int = 9, span: float = 2.5) -> Path:
    """Traverse each latent dim of ``x[0]``'s posterior mean over linspace(−span, span, steps)."""
    with torch.no_grad():
        loc, _ = model.encode(x[:1])
        D = loc.shape[-1]
        values = torch.linspace(-span, span, steps, dtype=loc.dtype, device=loc.device)
        z = loc.repeat(D * steps, 1).reshape(D, steps, D)
        for d in range(D):
            z[d, :, d] = values
        images = model.mean_image(z.reshape(D * steps, D)).detach().float().cpu().numpy()
    images = images.reshape(D, steps, *images.shape[1:])
    fig, axes = plt.subplots(D, steps, figsize=(steps * 0.9, D * 0.9), squeeze=False)
    for d in range(D):
        for s in range(steps):
            img, cmap = _image(images[d, s])
            axes[d, s].imshow(img, cmap=cmap, vmin=0, vmax=1)
            axes[d, s].set_xticks([])
            axes[d, s].set_yticks([])
        axes[d, 0].set_ylabel(f"z{d}", rotation=0, labelpad=12)
    for s in range(steps):
        axes[-1, s].set_xlabel(f"{float(values[s]):+.1f}")
    fig.suptitle("latent traversals")
    return _save(fig, Path(path))


def plot_group_traversals(model, x: torch.Tensor, groups, path, steps: int = 7, title: str = "") -> Path:
    """Decode a grid over each latent group (module docstring); ``x`` are observations whose
    posterior means set the ranges and the fixed values."""
    with torch.no_grad():
        loc, _ = model.encode(x)
    codes = loc.detach().double().cpu().numpy()
    low, mid, high = np.percentile(codes, [5, 50, 95], axis=0)
    groups = [list(g) for g in groups]
    if any(len(g) not in (1, 2) for g in groups):
        raise ValueError(f"group traversals draw groups of one or two dims, got {groups}")
    fig, axes = plt.subplots(1, len(groups), figsize=(3.8 * len(groups) * steps / 7, 4.2), squeeze=False)
    for ax, group in zip(axes[0], groups):
        grids = [np.linspace(low[d], high[d], steps) for d in group]
        rows = grids[1] if len(group) == 2 else [None]
        z = np.tile(mid, (len(rows) * steps, 1))
        for r, v in enumerate(rows):
            z[r * steps : (r + 1) * steps, group[0]] = grids[0]
            if v is not None:
                z[r * steps : (r + 1) * steps, group[1]] = v
        with torch.no_grad():
            images = model.mean_image(torch.as_tensor(z, dtype=loc.dtype, device=loc.device)).float().cpu().numpy()
        tiles = [[_image(images[r * steps + c])[0] for c in range(steps)] for r in range(len(rows))]
        mosaic = np.concatenate([np.concatenate(row, axis=1) for row in tiles[::-1]], axis=0)  # y up
        ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        names = [f"z{d}" for d in group]
        ax.set_xlabel(f"{names[0]} →")
        if len(group) == 2:
            ax.set_ylabel(f"{names[1]} →")
        ax.set_title("group (" + ", ".join(names) + ")", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, Path(path))


def plot_mi_heatmap(codes, factors, path, factor_names=None) -> Path:
    """Heatmap of I(z_d; v_k) / H(v_k) (20-bin histograms, nats ratio)."""
    mi = mutual_information_matrix(codes, factors)
    normalized = mi / np.maximum(discrete_entropy(np.asarray(factors)), 1e-12)[None, :]
    D, K = normalized.shape
    names = list(factor_names) if factor_names else [f"v{k}" for k in range(K)]
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * K, 1.0 + 0.45 * D))
    im = ax.imshow(normalized, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for d in range(D):
        for k in range(K):
            ax.text(
                k,
                d,
                f"{normalized[d, k]:.2f}",
                ha="center",
                va="center",
                color="white" if normalized[d, k] < 0.5 else "black",
                fontsize=7,
            )
    ax.set_xticks(range(K), names, rotation=45, ha="right")
    ax.set_yticks(range(D), [f"z{d}" for d in range(D)])
    ax.set_title("I(z_d; v_k) / H(v_k)")
    fig.colorbar(im, ax=ax)
    return _save(fig, Path(path))


def plot_latent_mi_matrix(codes, path) -> Path:
    """Pairwise latent MI heatmap (Chen et al. 2022, Fig. 4), diagonal masked."""
    m = latent_mi_matrix(codes)
    np.fill_diagonal(m, np.nan)
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * len(m), 0.8 + 0.45 * len(m)))
    im = ax.imshow(m, cmap="magma")
    ax.set_xticks(range(len(m)), [f"z{d}" for d in range(len(m))])
    ax.set_yticks(range(len(m)), [f"z{d}" for d in range(len(m))])
    ax.set_title("pairwise latent MI (nats)")
    fig.colorbar(im, ax=ax)
    return _save(fig, Path(path))


def plot_latent_pairs(
    codes, colour, path, max_dims: int = MAX_PAIR_DIMS, colour_name: str = "factor"
) -> Path:
    """Pair plot of the first ``max_dims`` code dims, points coloured by ``colour``."""
    codes = np.asarray(codes)[:, :max_dims]
    D = codes.shape[1]
    fig, axes = plt.subplots(D, D, figsize=(1.3 * D + 1, 1.3 * D + 1), squeeze=False)
    for i in range(D):
        for j in range(D):
            ax = axes[i, j]
            if i == j:
                ax.hist(codes[:, i], bins=30, color="grey")
            else:
                ax.scatter(
                    codes[:, j], codes[:, i], c=colour, s=2, cmap="viridis", alpha=0.6, linewidths=0
                )
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(f"z{i}")
            if i == D - 1:
                ax.set_xlabel(f"z{j}")
    fig.suptitle(f"latent pairs, coloured by {colour_name}")
    return _save(fig, Path(path))


def save_evaluation_plots(
    model, dataset, out_dir, random_state: int = 0, num_points: int = 2000
) -> list[Path]:
    """Traversals (if the model has ``mean_image`` and the data are images), MI heatmap,
    pairwise latent MI and pair plot, from ``num_points`` random observations."""
    rs = check_random_state(random_state)
    out_dir = Path(out_dir)
    try:
        device = next(model.parameters()).device
    except (AttributeError, StopIteration):
        device = None
    rep = Representation(encode=model.encode, device=device)
    factors = dataset.sample_factors(num_points, rs)
    x = dataset.sample_observations_from_factors(factors, rs)
    codes = rep(x)
    paths = []
    if hasattr(model, "mean_image") and len(dataset.observation_shape) == 3:
        x0 = x[:1].to(device) if device is not None else x[:1]
        paths.append(plot_latent_traversals(model, x0, out_dir / "latent_traversals.png"))
    paths.append(plot_mi_heatmap(codes, factors, out_dir / "mi_heatmap.png", dataset.factor_names))
    if codes.shape[1] >= 2:
        paths.append(plot_latent_mi_matrix(codes, out_dir / "latent_mi.png"))
        names = dataset.factor_names or [f"v{k}" for k in range(factors.shape[1])]
        paths.append(
            plot_latent_pairs(
                codes[:500], factors[:500, 0], out_dir / "latent_pairs.png", colour_name=names[0]
            )
        )
    return paths
