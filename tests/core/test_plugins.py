"""The plugin system: entry points, a third-party package, failures and the disable switches."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from pyrodisent import hookimpl
from pyrodisent.plugin_manager import (
    PluginConflictError,
    PyrodisentPluginManager,
    UnknownComponentError,
    get_plugin_manager,
    reset_plugin_manager,
)

THIRD_PARTY_PLUGIN = '''
"""A third-party regularizer: an L2 penalty on the posterior means."""
import torch
from pyrodisent import Regularizer, hookimpl

class MeanL2(Regularizer):
    name = "mean_l2"

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = float(weight)

    def penalty(self, posterior):
        loc, _ = posterior.require_diagonal_gaussian("mean_l2")
        value = loc.square().sum(-1).mean()
        posterior.record("mean_l2/value", value)
        return {"l2": self.weight * value}

@hookimpl
def pyrodisent_regularizers():
    return {"mean_l2": MeanL2}
'''

BROKEN_PLUGIN = "raise ImportError('this plugin is broken on purpose')\n"


def _build_and_install(tmp_path: Path) -> Path:
    """Write a package with a `pyrodisent` entry point and pip-install it into a target dir."""
    src = tmp_path / "src"
    pkg = src / "acme_penalties"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(THIRD_PARTY_PLUGIN)
    (pkg / "broken.py").write_text(BROKEN_PLUGIN)
    (src / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "acme-penalties"
        version = "0.0.1"
        [project.entry-points.pyrodisent]
        mean_l2 = "acme_penalties.plugin"
        acme_broken = "acme_penalties.broken"
        [tool.setuptools]
        packages = ["acme_penalties"]
    """))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(src)],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture(scope="module")
def third_party_site(tmp_path_factory):
    return _build_and_install(tmp_path_factory.mktemp("acme"))


@pytest.fixture
def with_third_party(third_party_site, monkeypatch):
    monkeypatch.syspath_prepend(str(third_party_site))
    reset_plugin_manager()
    yield third_party_site
    reset_plugin_manager()


def test_builtins_are_registered_through_the_entry_point_group():
    manager = get_plugin_manager()
    regs = manager.components("regularizers")
    assert regs["tc"].origin == "pyrodisent" and regs["tc"].plugin == "tc"
    assert regs["beta_vae"].origin == "pyrodisent"
    assert manager.components("models")["vae"].plugin == "models"


@pytest.mark.filterwarnings("ignore:pyrodisent plugin 'acme_broken'")  # asserted once below
def test_third_party_plugin_is_listed_and_usable_from_a_config(with_third_party, tiny_config, tmp_path):
    from pyrodisent.engine import train

    with pytest.warns(RuntimeWarning, match="'acme_broken'.*broken on purpose.*PYRODISENT_DISABLE_PLUGINS"):
        PyrodisentPluginManager().load_entry_points()
    manager = get_plugin_manager()
    comp = manager.components("regularizers")["mean_l2"]
    assert comp.origin == "acme-penalties"
    assert [f.name for f in manager.failures if f.origin == "acme-penalties"] == ["acme_broken"]
    # the broken plugin did not take the others down
    assert "tc" in manager.components("regularizers")

    config = dict(tiny_config, regularizers=[{"name": "mean_l2", "weight": 0.5}, {"name": "tc", "beta": 2}])
    config["train"] = dict(config["train"], steps=3)
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["steps_done"] == 3
    assert summary["final_terms"]["mean_l2/value"] >= 0
    assert summary["final_terms"]["penalty/mean_l2/l2"] == pytest.approx(0.5 * summary["final_terms"]["mean_l2/value"], rel=1e-5)

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(with_third_party), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-m", "pyrodisent.cli", "plugins"], env=env, capture_output=True, text=True)
    assert out.returncode == 0
    assert any("mean_l2" in line and "acme-penalties" in line for line in out.stdout.splitlines())
    assert "acme_broken" in out.stderr and "broken on purpose" in out.stderr


def test_disable_switches(with_third_party, monkeypatch):
    monkeypatch.setenv("PYRODISENT_DISABLE_PLUGIN_AUTOLOAD", "1")
    reset_plugin_manager()
    manager = get_plugin_manager()
    assert "mean_l2" not in manager.components("regularizers")
    assert "tc" in manager.components("regularizers")  # built-ins still load
    monkeypatch.delenv("PYRODISENT_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("PYRODISENT_DISABLE_PLUGINS", "tc,acme_broken")
    reset_plugin_manager()
    manager = get_plugin_manager()
    assert "tc" not in manager.components("regularizers")
    assert "mean_l2" in manager.components("regularizers")
    with pytest.raises(UnknownComponentError, match="unknown regularizer 'tc'; known regularizers: .*mean_l2"):
        manager.get("regularizers", "tc")


def test_two_plugins_claiming_one_name_is_an_error_naming_both():
    class A:
        @hookimpl
        def pyrodisent_regularizers(self):
            return {"same": object}

    class B(A):
        pass

    manager = PyrodisentPluginManager()
    manager.register_plugin(A(), "plugin-a")
    manager.register_plugin(B(), "plugin-b")
    with pytest.raises(PluginConflictError, match="plugin-a.*plugin-b|plugin-b.*plugin-a"):
        manager.components("regularizers")


def test_runtime_registration_from_a_script():
    from pyrodisent import DisentELBO, Regularizer, register_plugin

    class Zero(Regularizer):
        name = "zero_penalty"

        def penalty(self, posterior):
            return {"zero": posterior.z.sum() * 0}

    class Plugin:
        @hookimpl
        def pyrodisent_regularizers(self):
            return {"zero_penalty": Zero}

    name = register_plugin(Plugin(), "script-plugin")
    try:
        elbo = DisentELBO(["zero_penalty"])
        assert isinstance(elbo.regularizers[0], Zero)
        assert torch.is_tensor(Zero().penalty(type("P", (), {"z": torch.ones(2, 2)})())["zero"])
    finally:
        get_plugin_manager().unregister_plugin(name)
