"""pyrodisent's built-in plugins (package ``pyrodisent_plugins``).

Each module is registered through the ``pyrodisent`` entry-point group, the same way a
third-party package registers its own, and uses only the public hook API.
"""
