"""A small cache of tensors that a training step asks for every time (weight matrices, index
and mask batches), keyed by the sizes, dtype and device that determine them.

Only plain tensors are kept. While :mod:`pyrodisent.compiled` records a step, the same code
runs on fake tensors (``torch._subclasses.FakeTensor``, a subclass of ``torch.Tensor``); a
cache that kept those would hand them to the next eager call. ``functools.lru_cache`` cannot
tell them apart, hence this class.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import torch
from torch.utils._pytree import tree_leaves


class TensorCache:
    """``cache.get(key, build)``: ``build()``'s value, built once per key (at most ``size``
    keys, oldest dropped first). The values are shared: do not write to them."""

    def __init__(self, size: int = 32):
        self.size = int(size)
        self._store: dict[Hashable, Any] = {}

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        found = self._store.get(key)
        if found is not None:
            return found
        value = build()
        if all(type(leaf) is torch.Tensor for leaf in tree_leaves(value) if torch.is_tensor(leaf)):
            if len(self._store) >= self.size:
                self._store.pop(next(iter(self._store)))
            self._store[key] = value
        return value

    def clear(self) -> None:
        self._store.clear()
