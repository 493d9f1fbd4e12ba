"""InfoGAN (Chen et al. 2016) as a Pyro model/guide pair, with the factorized or the correlated
recognition posterior of Yang et al. 2020 (the mutual-information paper, §5.2, App. E).

    model (generator):  c ~ p(c) (``codes``: ``codes`` continuous dims, Unif(−1, 1) as in
                        Chen et al. 2016 §7, or N(0, I)),  k ~ Cat(1/K) (``category``, when
                        ``categories`` > 0), n ~ N(0, I) (``noise``),  x = G(c, k, n)
                        (deterministic site ``generated``)
    guide (Q):          c | x ~ N(μ(x), diag σ²(x))  or  N(μ(x), diag(σ) Σ_ρ diag(σ))
                        (Yang et al. 2020, eq. 12, Σ_ρ = (1 − ρ)I + ρ11ᵀ),  k | x ~ Cat(softmax)

:class:`pyrodisent.adversarial.InfoGANLoss` (the model's :meth:`InfoGAN.make_objective`, which
the engine uses in place of the ELBO) turns the pair into λ·(−E log Q(c | G(c, k, n))) +
λ_k·(−E log Q(k | G(c, k, n))) plus the discriminator plugin's generator loss, with λ = 0.1
for the continuous codes (Yang et al. 2020, §5) and λ_k = 1 for the category (Chen et al.
2016, §6). The networks are Chen et al. 2016's MNIST ones (App. C,
Table 1), sized for any H × W divisible by 4 (28 × 28 MNIST, 8 × 8 digits):

    G: FC 1024 + BN + ReLU, FC 128·(H/4)·(W/4) + BN + ReLU, 4×4 upconv 64 stride 2 + BN + ReLU,
       4×4 upconv C stride 2, sigmoid
    Q: 4×4 conv 64 stride 2 + lReLU(0.1), 4×4 conv 128 stride 2 + BN + lReLU, FC 1024 + BN +
       lReLU, FC 128 + BN + lReLU, FC (2·codes + K)

Chen et al. share Q's convolutional body with the discriminator; here the discriminator
belongs to the adversarial plugin (``gan_discriminator``), so Q has a body of its own of the
same shape. ``encode(x)`` is Q's (μ, σ) of the continuous codes, so the metrics and
diagnostics that read a representation score Q.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrodisent.adversarial import GENERATED_SITE, InfoGANLoss
from pyrodisent.models.networks import split_posterior_parameters
from pyrodisent.models.vae import check_guide, gaussian_posterior
from pyrodisent.validation import check_int, check_number

CODE_PRIORS = ("uniform", "normal")


def _conv_body(channels: int, h: int, w: int) -> list[nn.Module]:
    """Chen et al. 2016, App. C (MNIST): the discriminator's and Q's body up to FC 1024."""
    return [
        nn.Conv2d(channels, 64, 4, 2, 1), nn.LeakyReLU(0.1),
        nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.1),
        nn.Flatten(), nn.Linear(128 * (h // 4) * (w // 4), 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.1),
    ]


def check_image_shape(input_shape: Sequence[int], what: str) -> tuple[int, int, int]:
    """(C, H, W) of an image shape whose H and W the two stride-2 layers halve twice."""
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or shape[1] % 4 or shape[2] % 4:
        raise ValueError(f"{what} needs images [C, H, W] with H and W divisible by 4, got {list(shape)}")
    return shape


def infogan_generator(input_dim: int, input_shape: Sequence[int]) -> nn.Sequential:
    c, h, w = check_image_shape(input_shape, "the InfoGAN generator")
    return nn.Sequential(
        nn.Linear(input_dim, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
        nn.Linear(1024, 128 * (h // 4) * (w // 4)), nn.BatchNorm1d(128 * (h // 4) * (w // 4)), nn.ReLU(),
        nn.Unflatten(1, (128, h // 4, w // 4)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, c, 4, 2, 1), nn.Sigmoid(),
    )


def infogan_discriminator(input_shape: Sequence[int]) -> nn.Sequential:
    """The discriminator of Chen et al. 2016, App. C: the conv body, then FC 1 (a logit)."""
    c, h, w = check_image_shape(input_shape, "the InfoGAN discriminator")
    return nn.Sequential(*_conv_body(c, h, w), nn.Linear(1024, 1))


def infogan_recognition(input_shape: Sequence[int], outputs: int) -> nn.Sequential:
    """Q of Chen et al. 2016, App. C: the conv body, FC 128 + BN + lReLU, FC ``outputs``."""
    c, h, w = check_image_shape(input_shape, "the InfoGAN recognition network")
    return nn.Sequential(
        *_conv_body(c, h, w), nn.Linear(1024, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.1), nn.Linear(128, outputs)
    )


class InfoGAN(nn.Module):
    """InfoGAN (Chen et al. 2016): the generator (the model) and the recognition network Q
    (the guide), factorized or correlated (Yang et al. 2020, eq. 12); see the module docstring.

    :param input_shape: (C, H, W) of the data, H and W divisible by 4.
    :param codes: continuous codes (2: Chen et al. 2016's MNIST run; Yang et al. 2020, §5).
    :param categories: K of the categorical code (10 for MNIST digits; 0 for none).
    :param noise_dim: dims of the incompressible noise n (62 in Chen et al. 2016).
    :param code_prior: ``"uniform"`` (Unif(−1, 1), Chen et al. 2016) or ``"normal"`` (N(0, I)).
    :param guide, rho: Q's family: ``"factorized"`` or ``"correlated"`` with ρ (σ of Yang et
        al. 2020, eq. 12; default 0.9).
    :param mi_weight: λ of the continuous codes' mutual-information term (0.1, Yang et al.
        2020, §5).
    :param category_weight: λ of the categorical code's term (1: Chen et al. 2016, §6, "for
        discrete latent codes we always set λ to 1").
    :param latent_dim: accepted for the engine's config keys; must equal ``codes`` if given.
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 28, 28),
        codes: int = 2,
        categories: int = 10,
        noise_dim: int = 62,
        code_prior: str = "uniform",
        guide: str = "factorized",
        rho: float | None = None,
        mi_weight: float = 0.1,
        category_weight: float = 1.0,
        latent_dim: int | None = None,
        register_params: bool = True,
    ):
        super().__init__()
        self.input_shape = check_image_shape(input_shape, "InfoGAN")
        self.codes = check_int("codes", codes, 1)
        if latent_dim is not None and latent_dim != self.codes:
            raise ValueError(f"latent_dim ({latent_dim}) must equal codes ({self.codes}): Q's representation is the codes")
        self.latent_dim = self.codes
        self.categories = check_int("categories", categories, 0)
        if self.categories == 1:
            raise ValueError("categories must be 0 (no categorical code) or at least 2, got 1")
        self.noise_dim = check_int("noise_dim", noise_dim, 0)
        if code_prior not in CODE_PRIORS:
            raise ValueError(f"unknown code_prior {code_prior!r}; choose one of {', '.join(CODE_PRIORS)}")
        self.code_prior = code_prior
        self.rho = check_guide(guide, rho)
        self.guide_family = guide
        self.mi_weight = check_number("mi_weight", mi_weight, 0)
        self.category_weight = check_number("category_weight", category_weight, 0)
        self.register_params = register_params
        self.generator = infogan_generator(self.codes + self.categories + self.noise_dim, self.input_shape)
        self.recognition = infogan_recognition(self.input_shape, 2 * self.codes + self.categories)

    # ------------------------------------------------------------------ pieces
    def code_entropy(self) -> float:
        """H(c) + H(k) in nats: the constant of the lower bound L_I (Chen et al. 2016, eq. 5)."""
        per_dim = math.log(2.0) if self.code_prior == "uniform" else 0.5 * math.log(2 * math.pi * math.e)
        return self.codes * per_dim + (math.log(self.categories) if self.categories else 0.0)

    def make_objective(self, regularizers, num_particles: int = 1) -> InfoGANLoss:
        """The loss the engine trains this model with (in place of the ELBO)."""
        weights = {"codes": self.mi_weight, "category": self.category_weight}
        return InfoGANLoss(regularizers, num_particles=num_particles, mi_weight=weights,
                           code_entropy=self.code_entropy())

    def _code_prior(self, device: torch.device):
        zeros = torch.zeros(self.codes, device=device)
        if self.code_prior == "uniform":
            return dist.Uniform(zeros - 1, zeros + 1).to_event(1)
        return dist.Normal(zeros, torch.ones_like(zeros)).to_event(1)

    def generate(self, codes: torch.Tensor, category: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
        """G(c, k, n): images [B, C, H, W] in [0, 1]; ``category`` one-hot [B, K] (``None``
        when the model has no categorical code)."""
        parts = [codes] + ([category] if self.categories else []) + [noise]
        return self.generator(torch.cat(parts, dim=1))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Q's mean and scale of the continuous codes, each [B, codes]."""
        return split_posterior_parameters(self.recognition(x)[:, : 2 * self.codes])

    def category_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Q's logits of the categorical code [B, K]."""
        return self.recognition(x)[:, 2 * self.codes :]

    # ----------------------------------------------------------- model / guide
    def model(self, x: torch.Tensor, dataset_size: int | None = None) -> torch.Tensor:
        """Generate a batch of ``x.shape[0]`` images (x gives the batch size and device)."""
        if self.register_params:
            pyro.module("generator", self.generator)
        batch, device = x.shape[0], x.device
        with pyro.plate("data", batch):
            codes = pyro.sample("codes", self._code_prior(device).expand([batch]))
            category = None
            if self.categories:
                probs = torch.full((self.categories,), 1.0 / self.categories, device=device)
                category = pyro.sample("category", dist.OneHotCategorical(probs=probs).expand([batch]))
            zeros = torch.zeros(self.noise_dim, device=device)
            noise = pyro.sample("noise", dist.Normal(zeros, torch.ones_like(zeros)).to_event(1).expand([batch]))
            return pyro.deterministic(GENERATED_SITE, self.generate(codes, category, noise), event_dim=3)

    def guide(self, x: torch.Tensor, dataset_size: int | None = None) -> None:
        """Q(c, k | x) over the code sites of :meth:`model`."""
        if self.register_params:
            pyro.module("recognition", self.recognition)
        out = self.recognition(x)
        loc, scale = split_posterior_parameters(out[:, : 2 * self.codes])
        with pyro.plate("data", x.shape[0]):
            pyro.sample("codes", gaussian_posterior(loc, scale, self.guide_family, self.rho))
            if self.categories:
                pyro.sample("category", dist.OneHotCategorical(logits=out[:, 2 * self.codes :]))

    # ------------------------------------------------------------- pictures
    def code_traversal(self, values: int = 7, span: float = 2.0, dims: tuple[int, int] = (0, 1),
                       category: int = 0, seed: int = 0) -> torch.Tensor:
        """Yang et al. 2020, Fig. 3: images [values, values, C, H, W] whose column j sets code
        ``dims[0]`` and row i code ``dims[1]`` to the points of linspace(−span, span, values),
        the other codes 0, category ``category`` and one noise draw (from ``seed``) fixed."""
        values = check_int("values", values, 2)
        a, b = dims
        for d in dims:
            if not 0 <= d < self.codes:
                raise ValueError(f"dims must be code indices in [0, {self.codes}), got {dims}")
        device = next(self.parameters()).device
        grid = torch.linspace(-span, span, values, device=device)
        codes = torch.zeros(values, values, self.codes, device=device)
        codes[:, :, a] = grid.view(1, values)
        if b != a:
            codes[:, :, b] = grid.view(values, 1)
        codes = codes.reshape(values * values, self.codes)
        onehot = None
        if self.categories:
            if not 0 <= category < self.categories:
                raise ValueError(f"category must be in [0, {self.categories}), got {category}")
            onehot = torch.zeros(values * values, self.categories, device=device)
            onehot[:, category] = 1.0
        gen = torch.Generator().manual_seed(seed)
        noise = torch.randn(1, self.noise_dim, generator=gen).to(device).expand(values * values, -1)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                images = self.generate(codes, onehot, noise)
        finally:
            self.train(was_training)
        return images.reshape(values, values, *self.input_shape)

    def summary_images(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The engine's TensorBoard pictures, each [rows, cols, C, H, W]: the traversal of
        the first two codes (in place of a VAE's reconstructions and traversals)."""
        return {"images/code_traversal": self.code_traversal(dims=(0, min(1, self.codes - 1)))}
