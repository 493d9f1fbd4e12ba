"""The encoder/decoder networks of the papers: shapes, and the properties that define them."""

import pytest
import torch
from torch import nn

from pyrodisent.models.networks import build_networks


def test_linear_networks_are_affine():
    # PDisVAE §4.1 trains a linear encoder and decoder: f(a + b) − f(a) − f(b) + f(0) = 0
    torch.manual_seed(0)
    enc, dec = build_networks("linear", (20,), latent_dim=6)
    for f, dim in ((enc, 20), (dec, 6)):
        a, b = torch.randn(5, dim), torch.randn(5, dim)
        zero = torch.zeros(5, dim)
        gap = f(a + b) - f(a) - f(b) + f(zero)
        assert gap.abs().max() < 1e-5
        # and not constant: a non-zero input moves the output
        assert (f(a) - f(zero)).abs().max() > 1e-2
    assert enc(torch.randn(3, 20)).shape == (3, 12)
    assert dec(torch.randn(3, 6)).shape == (3, 20)
    # one affine map each, no hidden layer
    assert sum(isinstance(m, nn.Linear) for m in enc.modules()) == 1
    assert sum(isinstance(m, nn.Linear) for m in dec.modules()) == 1


@pytest.mark.parametrize("size", [32, 64])
def test_burgess_network_has_the_papers_layers(size):
    # Burgess et al. 2018, App. A.1: 4 × [4×4 conv, 32 channels, stride 2], FC 256, FC 256, FC 2D
    enc, dec = build_networks("burgess", (1, size, size), latent_dim=4)
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (1, 32, (4, 4), (2, 2))
    ] + [(32, 32, (4, 4), (2, 2))] * 3
    fcs = [m for m in enc.modules() if isinstance(m, nn.Linear)]
    flat = 32 * (size // 16) ** 2
    assert [(f.in_features, f.out_features) for f in fcs] == [(flat, 256), (256, 256), (256, 8)]
    # the decoder mirrors it
    dfcs = [m for m in dec.modules() if isinstance(m, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in dfcs] == [(4, 256), (256, 256), (256, flat)]
    ups = [m for m in dec.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.in_channels, u.out_channels, u.stride) for u in ups] == [(32, 32, (2, 2))] * 3 + [(32, 1, (2, 2))]
    x = torch.rand(2, 1, size, size)
    assert enc(x).shape == (2, 8)
    assert dec(torch.randn(2, 4)).shape == (2, 1, size, size)


def test_burgess_network_needs_sizes_divisible_by_16():
    with pytest.raises(ValueError, match="divisible by 16"):
        build_networks("burgess", (1, 40, 40), latent_dim=4)


@pytest.mark.parametrize("size", [16, 64])
def test_locatello_network_has_the_papers_layers(size):
    # Locatello et al. 2019, App. Table 1: 4×4 conv 32, 4×4 conv 32, 2×2 conv 64, 2×2 conv 64 (stride 2),
    # FC 256, FC 2D; the decoder FC 256, FC 4·4·64 (at 64 × 64), 4 × 4×4 upconv with 64, 32, 32, C channels
    enc, dec = build_networks("locatello", (3, size, size), latent_dim=10)
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (3, 32, (4, 4), (2, 2)), (32, 32, (4, 4), (2, 2)), (32, 64, (2, 2), (2, 2)), (64, 64, (2, 2), (2, 2))
    ]
    flat = 64 * (size // 16) ** 2
    fcs = [(f.in_features, f.out_features) for f in enc.modules() if isinstance(f, nn.Linear)]
    assert fcs == [(flat, 256), (256, 20)]
    dfcs = [(f.in_features, f.out_features) for f in dec.modules() if isinstance(f, nn.Linear)]
    assert dfcs == [(10, 256), (256, flat)]
    ups = [(u.in_channels, u.out_channels, u.kernel_size) for u in dec.modules() if isinstance(u, nn.ConvTranspose2d)]
    assert ups == [(64, 64, (4, 4)), (64, 32, (4, 4)), (32, 32, (4, 4)), (32, 3, (4, 4))]
    assert enc(torch.rand(2, 3, size, size)).shape == (2, 20)
    assert dec(torch.randn(2, 10)).shape == (2, 3, size, size)
