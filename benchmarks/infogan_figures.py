"""Figures and numbers of the InfoGAN experiment of the mutual-information paper (Yang et al.
2020, §5.2, App. E) from trained runs (`pyrodisent train configs/infogan_digits*.yaml`).

* ``traversals RUN...`` — Fig. 3: per run, the 7 × 7 grid of the two continuous codes on
  [−2, 2] (code 1 along the columns, code 2 along the rows; category 0, one noise draw), and
  for each code its sweep in every category (one row per category), where a code that binds
  to a style factor keeps the digit and one that does not changes it.
* ``identity RUN...`` — the claim of Fig. 3 as a number: a logistic-regression digit
  classifier (scikit-learn, fitted on the bundled digits; its held-out accuracy is printed)
  reads every image of each code's sweep, for every category and 20 noise draws, and we count
  the sweeps along which the predicted digit changes, over [−1, 1] (the codes' prior range)
  and over [−2, 2] (the figure's). Yang et al. 2020: with σ = 0 the codes bind to rotation and
  width (the digit stays), with σ = 0.9 "varying continuous factors leads to changing of digits".
* ``losses RUN...`` — Fig. 4: the discriminator's loss, the generator's adversarial loss and
  the mutual-information penalty λ·(−E log Q) against the step, from each run's TensorBoard log.

    python benchmarks/infogan_figures.py traversals runs/infogan_digits runs/infogan_digits_correlated --out docs/results
    python benchmarks/infogan_figures.py identity runs/infogan_digits runs/infogan_digits_correlated --out docs/results
    python benchmarks/infogan_figures.py losses runs/infogan_digits runs/infogan_digits_correlated --out docs/results
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from pyrodisent.engine.trainer import load_run


def _label(model) -> str:
    return f"σ = {model.rho:g} ({model.guide_family} Q)"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _tile(images: torch.Tensor) -> np.ndarray:
    """[rows, cols, 1, H, W] → one [rows·(H+1), cols·(W+1)] array with 1-pixel gaps."""
    rows, cols, _, h, w = images.shape
    out = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1))
    for i in range(rows):
        for j in range(cols):
            out[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = images[i, j, 0].numpy()
    return out


def category_sweeps(model, dim: int, values: int, span: float, seed: int) -> torch.Tensor:
    """[K, values, C, H, W]: code ``dim`` swept over linspace(−span, span) in each category."""
    rows = [model.code_traversal(values=values, span=span, dims=(dim, dim), category=k, seed=seed)[0]
            for k in range(model.categories)]
    return torch.stack(rows)


def traversals(runs: list[Path], out: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(len(runs), 3, figsize=(12, 4.2 * len(runs)), squeeze=False)
    for row, run in zip(axes, runs):
        model, _, _ = load_run(run)
        label = _label(model)
        panels = [(_tile(model.code_traversal(values=7, span=2.0, category=0, seed=0)),
                   f"{label}\ncode 1 → (columns), code 2 ↓ (rows), on [−2, 2]")]
        for d in range(min(model.codes, 2)):
            panels.append((_tile(category_sweeps(model, d, 7, 2.0, seed=0)),
                           f"{label}\ncode {d + 1} on [−2, 2], one row per category"))
        for ax, (image, title) in zip(row, panels):
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.suptitle("InfoGAN code traversals (Yang et al. 2020, Fig. 3; bundled 8 × 8 digits)", fontsize=11)
    fig.tight_layout()
    path = out / "infogan_traversals.png"
    fig.savefig(path, dpi=130)
    print(f"wrote {path}")


def _digit_classifier():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x, y = data.images.reshape(len(data.images), -1) / 16.0, data.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    clf = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    return clf, float(clf.score(x_test, y_test))


def identity_changes(model, clf, dim: int, span: float, values: int = 9, draws: int = 20) -> float:
    """The fraction of (category, noise draw) sweeps of code ``dim`` over [−span, span]
    along which the classifier's digit changes."""
    changed = []
    for seed in range(draws):
        sweeps = category_sweeps(model, dim, values, span, seed)  # [K, values, 1, H, W]
        labels = clf.predict(sweeps.reshape(-1, sweeps[0, 0].numel()).numpy()).reshape(sweeps.shape[:2])
        changed += [len(set(row)) > 1 for row in labels]
    return float(np.mean(changed))


def identity(runs: list[Path], out: Path) -> None:
    clf, accuracy = _digit_classifier()
    print(f"digit classifier (logistic regression, 25 % held out): accuracy {accuracy:.3f}")
    records = []
    for run in runs:
        model, _, _ = load_run(run)
        if tuple(model.input_shape) != (1, 8, 8):
            raise SystemExit(f"{run}: the digit classifier reads 8 × 8 digits; this run's images are {list(model.input_shape)}")
        for d in range(model.codes):
            for span in (1.0, 2.0):
                rate = identity_changes(model, clf, d, span)
                records.append({"run": run.name, "posterior": _label(model), "code": d + 1, "span": span,
                                "digit_changes": rate})
                print(f"{run.name}: code {d + 1} on [−{span:g}, {span:g}]: the digit changes along {rate:.0%} of the sweeps")
    path = out / "infogan_identity_changes.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    print(f"wrote {path} (classifier accuracy {accuracy:.3f})")


def _curve(run: Path, tag: str) -> tuple[list[int], list[float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    events = acc.Scalars(tag)
    return [e.step for e in events], [e.value for e in events]


def losses(runs: list[Path], out: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 3.8), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs):
        model, _, _ = load_run(run)
        for tag, name in (("loss/gan/d_loss", "discriminator"),
                          ("loss/penalty/gan_discriminator/generator", "generator (adversarial)")):
            ax.plot(*_curve(run, tag), label=name)
        steps, codes = _curve(run, "loss/info/neg_log_q/codes")
        penalty = model.mi_weight * np.asarray(codes)
        if model.categories:
            penalty = penalty + model.category_weight * np.asarray(_curve(run, "loss/info/neg_log_q/category")[1])
        ax.plot(steps, penalty, label="mutual information penalty Σ λ·(−E log Q)")
        ax.set_title(f"{run.name}\n{_label(model)}", fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("loss (per image)")
    fig.suptitle("InfoGAN loss curves (Yang et al. 2020, Fig. 4)", fontsize=10)
    fig.tight_layout()
    path = out / "infogan_losses.png"
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["traversals", "identity", "losses"])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories of pyrodisent train")
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    {"traversals": traversals, "identity": identity, "losses": losses}[args.what](args.runs, args.out)


if __name__ == "__main__":
    main()
