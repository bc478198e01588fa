"""CLI commands: generate (being written)."""


def register(subparsers) -> None:
    pass
