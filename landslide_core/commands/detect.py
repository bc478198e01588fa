"""CLI commands: detect (being written)."""


def register(subparsers) -> None:
    pass
