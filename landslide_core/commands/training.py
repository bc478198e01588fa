"""CLI commands: training (being written)."""


def register(subparsers) -> None:
    pass
