"""The plugin manager: loads built-in and third-party plugins and looks components up by name.

Every plugin, built-in or not, is found through the entry-point group ``pyrodisent``
(see :mod:`pyrodisent.hookspecs`). A plugin that fails to import is reported by name and
skipped; the others still load. Components are looked up by kind and name with
:func:`get_component`, whose error lists every known name.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from pyrodisent import hookspecs

BUILTIN_DISTRIBUTION = "pyrodisent"
DISABLE_AUTOLOAD_ENV = "PYRODISENT_DISABLE_PLUGIN_AUTOLOAD"
DISABLE_PLUGINS_ENV = "PYRODISENT_DISABLE_PLUGINS"

COMPONENT_KINDS = ("regularizers", "models", "priors", "datasets", "metrics")


class UnknownComponentError(KeyError):
    """A name that no loaded plugin provides."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class PluginConflictError(RuntimeError):
    """Two plugins registered the same component name."""


@dataclass(frozen=True)
class Component:
    """One registered component and where it came from."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str  # the plugin's registered name (entry-point name for loaded plugins)
    origin: str  # the distribution (package) that provides it, or "runtime"


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded."""

    name: str
    origin: str
    error: str


class PyrodisentPluginManager(pluggy.PluginManager):
    """A pluggy manager that knows pyrodisent's hooks and caches the component registries."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self._origins: dict[str, str] = {}
        self._components: dict[str, dict[str, Component]] | None = None

    # ----------------------------------------------------------------- loading
    def load_entry_points(self) -> None:
        """Import and register every plugin of the ``pyrodisent`` entry-point group.

        ``PYRODISENT_DISABLE_PLUGIN_AUTOLOAD`` (any non-empty value) skips plugins of other
        distributions; ``PYRODISENT_DISABLE_PLUGINS=a,b`` skips the named entry points.
        """
        skip_third_party = bool(os.environ.get(DISABLE_AUTOLOAD_ENV))
        disabled = {n.strip() for n in os.environ.get(DISABLE_PLUGINS_ENV, "").split(",") if n.strip()}
        for ep in entry_points(group=hookspecs.PROJECT_NAME):
            origin = ep.dist.name if ep.dist is not None else "unknown"
            if ep.name in disabled or self.has_plugin(ep.name) or self.is_blocked(ep.name):
                continue
            if skip_third_party and origin != BUILTIN_DISTRIBUTION:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                failure = PluginFailure(ep.name, origin, f"{type(exc).__name__}: {exc}")
                self.failures.append(failure)
                warnings.warn(
                    f"pyrodisent plugin {ep.name!r} (from {origin}, {ep.value}) failed to load "
                    f"and was skipped: {failure.error}. Fix or uninstall it, or disable it with "
                    f"{DISABLE_PLUGINS_ENV}={ep.name}.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            self.register_plugin(plugin, ep.name, origin)

    def register_plugin(self, plugin: object, name: str | None = None, origin: str = "runtime") -> str:
        """Register a plugin object (module or instance) and rebuild the registries."""
        registered = self.register(plugin, name=name)
        if registered is None:
            raise PluginConflictError(f"plugin {name!r} is blocked and cannot be registered")
        self._origins[registered] = origin
        self._components = None
        return registered

    def unregister_plugin(self, name: str) -> None:
        self.unregister(name=name)
        self._origins.pop(name, None)
        self._components = None

    # ------------------------------------------------------------------ lookup
    def components(self, kind: str) -> dict[str, Component]:
        """All components of one kind, ``{name: Component}``."""
        if kind not in COMPONENT_KINDS:
            raise ValueError(f"unknown component kind {kind!r}; expected one of {COMPONENT_KINDS}")
        if self._components is None:
            self._components = {k: self._collect(k) for k in COMPONENT_KINDS}
        return self._components[kind]

    def _collect(self, kind: str) -> dict[str, Component]:
        hook = getattr(self.hook, f"pyrodisent_{kind}")
        found: dict[str, Component] = {}
        for impl in hook.get_hookimpls():
            contributed = impl.function() or {}
            plugin_name = impl.plugin_name
            for name, factory in dict(contributed).items():
                if name in found:
                    raise PluginConflictError(
                        f"{kind[:-1]} {name!r} is provided by both plugin "
                        f"{found[name].plugin!r} and plugin {plugin_name!r}; disable one with "
                        f"{DISABLE_PLUGINS_ENV}=<plugin name>."
                    )
                found[name] = Component(
                    kind, name, factory, plugin_name, self._origins.get(plugin_name, "runtime")
                )
        return found

    def get(self, kind: str, name: str) -> Component:
        available = self.components(kind)
        if name not in available:
            known = ", ".join(sorted(available)) or "none"
            hint = ""
            failed = [f.name for f in self.failures]
            if failed:
                hint = f" (plugins that failed to load: {', '.join(failed)})"
            raise UnknownComponentError(
                f"unknown {kind[:-1]} {name!r}; known {kind}: {known}{hint}. "
                f"Install the plugin that provides it, or fix the name."
            )
        return available[name]


_manager: PyrodisentPluginManager | None = None


def get_plugin_manager() -> PyrodisentPluginManager:
    """The process-wide plugin manager, built (and entry points loaded) on first use."""
    global _manager
    if _manager is None:
        manager = PyrodisentPluginManager()
        manager.load_entry_points()
        _manager = manager
    return _manager


def reset_plugin_manager() -> None:
    """Forget the loaded plugins; the next look-up reloads entry points (used after installs)."""
    global _manager
    _manager = None


def get_component(kind: str, name: str) -> Callable[..., Any]:
    """The factory registered as ``name`` for ``kind`` ("regularizers", "models", ...)."""
    return get_plugin_manager().get(kind, name).factory


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object at run time, e.g. from a Pyro script or a test."""
    return get_plugin_manager().register_plugin(plugin, name)
