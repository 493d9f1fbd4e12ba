"""Built-in datasets — file loaders and generators — registered through ``pyrodisent_datasets``.

Dataset cards (factors, sizes, files, how to obtain them): docs/datasets.md.
"""

from pyrodisent import hookimpl
from pyrodisent.data.dsprites import dsprites, generated_dsprites


@hookimpl
def pyrodisent_datasets():
    return {
        "dsprites": dsprites,
        "generated_dsprites": generated_dsprites,
    }
