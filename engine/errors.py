"""The base of every error the user can act on. The CLI prints these as one line (exit 2) and
Blender operators show them in the status bar; anything else is a bug and keeps its traceback."""


class EngineError(Exception):
    """A problem with the user's input, files or setup, with a message that says what to do."""
