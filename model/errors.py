"""Typed errors: the CLI turns each into a one-line message and an exit code."""


class NuchterError(Exception):
    """Anything the user can fix; the message says how."""

    exit_code = 1


class InputError(NuchterError):
    """The text or file to score is empty, binary or unreadable."""


class ModelError(NuchterError):
    """The model is missing, broken or not a nuchter classifier."""
