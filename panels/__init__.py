"""Blender panels of the add-on (thin: the work happens in engine/)."""


def register() -> None:
    pass


def unregister() -> None:
    pass
