"""TensorCache keeps plain tensors and never the fake tensors of a recorded step."""

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from pyrodisent.estimators.cache import TensorCache


def test_plain_tensors_are_built_once_and_fake_ones_never_kept():
    cache, builds = TensorCache(size=2), []

    def build():
        builds.append(1)
        return [torch.zeros(3), (torch.ones(2), "label")]

    first = cache.get("a", build)
    assert cache.get("a", build) is first and len(builds) == 1
    with FakeTensorMode():
        fake = cache.get("b", build)
    assert type(fake[0]) is not torch.Tensor and len(builds) == 2
    again = cache.get("b", build)  # built anew, as a plain tensor
    assert type(again[0]) is torch.Tensor and len(builds) == 3
    cache.get("c", build)  # the oldest key goes when the cache is full
    assert cache.get("a", build) is not first and len(builds) == 5
