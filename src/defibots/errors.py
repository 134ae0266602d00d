"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """Bad input or an unreachable outside service: shown as one line, never a traceback."""

    exit_code = 2


class ToolchainError(UserError):
    """A binary or build output that `make setup` should have provided is missing."""
