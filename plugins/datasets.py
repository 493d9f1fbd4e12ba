"""Built-in datasets — file loaders and generators — registered through ``pyrodisent_datasets``.

Dataset cards (factors, sizes, files, how to obtain them): docs/datasets.md.
"""

from pyrodisent import hookimpl
from pyrodisent.data.cars3d import cars3d
from pyrodisent.data.celeba import celeba
from pyrodisent.data.digits import digits
from pyrodisent.data.dsprites import dsprites, generated_dsprites
from pyrodisent.data.hdf5 import h5
from pyrodisent.data.mnist import mnist
from pyrodisent.data.mpi3d import mpi3d
from pyrodisent.data.pdsprites import pdsprites
from pyrodisent.data.shapes3d import shapes3d
from pyrodisent.data.smallnorb import smallnorb
from pyrodisent.data.synthetic import correlated_gaussian, groupwise, independent


@hookimpl
def pyrodisent_datasets():
    return {
        # generators (no download)
        "generated_dsprites": generated_dsprites,
        "pdsprites": pdsprites,
        "groupwise": groupwise,
        "independent": independent,
        "correlated_gaussian": correlated_gaussian,
        "digits": digits,
        # loaders of files users bring
        "dsprites": dsprites,
        "shapes3d": shapes3d,
        "cars3d": cars3d,
        "smallnorb": smallnorb,
        "mpi3d": mpi3d,
        "mnist": mnist,
        "celeba": celeba,
        "h5": h5,
    }
