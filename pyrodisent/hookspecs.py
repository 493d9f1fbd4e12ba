"""Every hook a pyrodisent plugin can implement, in one place.

A plugin is any module (or object) with functions named like the specs below, decorated
with :data:`hookimpl`. Built-in components are plugins too: they live in the top-level
``plugins/`` folder (package ``pyrodisent_plugins``) and are found through the entry-point
group ``pyrodisent``, exactly like a third-party package::

    # pyproject.toml of a third-party package
    [project.entry-points.pyrodisent]
    my_penalty = "my_package.plugin"

    # my_package/plugin.py
    from pyrodisent import hookimpl, Regularizer

    class MyPenalty(Regularizer):
        ...

    @hookimpl
    def pyrodisent_regularizers():
        return {"my_penalty": MyPenalty}

All ``pyrodisent_<components>`` hooks are *collecting* hooks: every plugin's answer is
kept, the mappings are merged, and two plugins claiming the same name is an error that
names both. Set ``PYRODISENT_DISABLE_PLUGIN_AUTOLOAD=1`` to skip third-party entry points
(the built-ins still load), or ``PYRODISENT_DISABLE_PLUGINS=name1,name2`` to skip named
entry points, built-in or not.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "pyrodisent"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def pyrodisent_regularizers():
    """Contribute ELBO augmentations.

    Called once when the plugin manager is built. Return a mapping ``{name: factory}``
    where ``factory(**params)`` returns a :class:`pyrodisent.Regularizer`. ``name`` is what
    configs and :func:`pyrodisent.regularizer` use. All results are merged.
    """


@hookspec
def pyrodisent_models():
    """Contribute model/guide pairs.

    Return ``{name: factory}`` where ``factory(input_shape=(C, H, W), **options)`` returns
    an ``nn.Module`` with ``.model(x, dataset_size=None)``, ``.guide(x, dataset_size=None)``
    and ``.encode(x) -> (loc, scale)``. All results are merged. A model that trains on pairs
    of observations (Ada-GVAE) has a ``pair_sampling`` attribute, the options of
    :func:`pyrodisent.data.pairs.make_pair_sampler` (e.g. ``{"k": 1}``): the engine then
    passes ``.model``/``.guide`` batches of pairs [B, 2, *input_shape]; ``.encode`` still takes
    single observations.
    """


@hookspec
def pyrodisent_priors():
    """Contribute latent priors.

    Return ``{name: factory}`` where ``factory(latent_dim, **options)`` returns a Pyro
    distribution over ``latent_dim`` dims (``event_shape == (latent_dim,)``). All results
    are merged.
    """


@hookspec
def pyrodisent_datasets():
    """Contribute datasets (file loaders or generators).

    Return ``{name: factory}`` where ``factory(**options)`` returns a
    :class:`pyrodisent.data.FactorDataset`. All results are merged.
    """


@hookspec
def pyrodisent_metrics():
    """Contribute evaluation metrics.

    Return ``{name: function}`` where ``function(representation, dataset, random_state,
    **options)`` returns a ``dict`` of named float scores. All results are merged.
    """
