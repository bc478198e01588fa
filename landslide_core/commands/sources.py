"""CLI commands: sources (being written)."""


def register(subparsers) -> None:
    pass
