"""Atomic checkpoints that load with ``torch.load(weights_only=True)``.

A checkpoint is written to a temporary file in the same directory, flushed and fsynced,
then renamed over the old one: an interrupted write never leaves a broken checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pyrodisent.atomic_file import atomic_open
from pyrodisent.errors import UserError

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(UserError):
    """A checkpoint that cannot be read."""


def save_atomic(state: dict[str, Any], path: str | Path) -> None:
    with atomic_open(path, "wb") as f:
        torch.save(state, f)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {str(path)!r}; train first with `pyrodisent train`")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be read ({type(exc).__name__}: {exc}); it may be "
            f"truncated or from another program. Delete it to start the run afresh."
        ) from None
