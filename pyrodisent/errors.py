"""Errors a user can fix; the CLI prints them as one line, without a traceback."""


class UserError(Exception):
    """An error in the user's input (config, paths, names): printed without a traceback."""
