"""Built-in model/guide pairs, registered through the public ``pyrodisent_models`` hook."""

from pyrodisent import hookimpl
from pyrodisent.models import VAE
from pyrodisent.models.devae import DeVAE
from pyrodisent.models.infogan import InfoGAN
from pyrodisent.models.weak import AdaGVAE, AdaMLVAE


@hookimpl
def pyrodisent_models():
    return {"vae": VAE, "devae": DeVAE, "ada_gvae": AdaGVAE, "ada_ml_vae": AdaMLVAE, "infogan": InfoGAN}
