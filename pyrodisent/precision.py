"""Mixed precision for the networks only: ``train.precision: bf16``.

bfloat16 keeps float32's exponent range with an 8-bit mantissa (relative rounding 2⁻⁸ ≈ 0.4 %),
enough for the convolutions and matrix products of the encoder and decoder, where the time
goes, and not enough for what follows them: the aggregate-posterior estimators take
log-sum-exps over M² pairwise log densities whose differences of a few nats decide the TC
estimate (docs/estimators.md), and the ELBO sums thousands of per-pixel log-likelihoods.

So :func:`autocast_networks` puts ``torch.autocast`` around each network's forward only
and casts what the network returns back to float32: the posterior parameters, the codes,
the likelihood's logits and everything computed from them (the KL, the ELBO, the TC
estimators in their own float32/float64) stay in full precision. It works the same eager and
inside :class:`pyrodisent.compiled.CompiledStep`, whose recorded program then holds the casts.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

#: the value of ``train.precision`` → the networks' compute dtype (None: as the parameters)
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}

#: the attributes of a model that hold its networks (VAE-like and InfoGAN models)
NETWORK_ATTRIBUTES = ("encoder", "decoder", "generator", "recognition", "discriminator")


def model_networks(model: nn.Module) -> list[nn.Module]:
    """The model's networks: its ``encoder``/``decoder`` (``generator``, ``recognition``,
    ``discriminator`` for a GAN) modules."""
    return [m for name in NETWORK_ATTRIBUTES if isinstance(m := getattr(model, name, None), nn.Module)]


def _to_float32(value):
    """Reduced-precision floating tensors in ``value`` (a tensor, tuple, namedtuple, list or
    dict of them) as float32; everything else, float64 included, as it is."""
    if torch.is_tensor(value):
        return value.float() if value.dtype in (torch.bfloat16, torch.float16) else value
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_to_float32(v) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(_to_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_float32(v) for k, v in value.items()}
    return value


def autocast_networks(modules: Iterable[nn.Module], dtype: torch.dtype) -> list:
    """Run every module's forward under ``torch.autocast(dtype)`` and return its floating
    outputs as float32. Returns the hook handles (``handle.remove()`` undoes it).

    ``dtype`` is ``torch.bfloat16`` (float16 would need a gradient scaler; it is refused).
    """
    if dtype is not torch.bfloat16:
        raise ValueError(f"autocast_networks supports bfloat16 only, got {dtype}")
    handles = []
    for module in modules:
        contexts: list[torch.autocast] = []

        def enter(mod, args, kwargs, contexts=contexts):
            tensors = [a for a in (*args, *kwargs.values()) if torch.is_tensor(a)]
            device_type = tensors[0].device.type if tensors else "cpu"
            context = torch.autocast(device_type=device_type, dtype=dtype)
            context.__enter__()
            contexts.append(context)

        def leave(mod, args, output, contexts=contexts):
            contexts.pop().__exit__(None, None, None)
            return _to_float32(output)

        handles.append(module.register_forward_pre_hook(enter, with_kwargs=True))
        handles.append(module.register_forward_hook(leave, always_call=True))
    return handles


def check_precision(name: str) -> torch.dtype | None:
    """The compute dtype of a ``train.precision`` value; a clear error for anything else."""
    try:
        return PRECISIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {name!r}") from None
