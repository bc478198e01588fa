"""`python -m landslide_core`: the command-line entry.

Each command lives in ``landslide_core/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
Exit codes: 0 success, 2 bad input, 3 model problem, 4 source problem, 130 cancelled,
1 an unexpected error (a bug: please report it with the log). A file system error
(a path that cannot be read or written) is reported in one line with exit code 2.

Installed (``pip install .``), the same entry is the ``landslide`` command. Messages follow
``LANDSLIDE_LANG`` (``en`` or ``es``): the command list, this module's own lines, the outputs of
``detect``, ``report`` and ``export``, and the errors raised with a message id
(``landslide_core.i18n.user_error``); the other errors and option help stay in English.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Optional, Sequence

from .errors import UserError
from .i18n import has, localized, t

COMMAND_MODULES = ("detect", "fetch", "batch", "sources", "generate", "training", "watch", "dataset", "experiment",
                   "report", "review")


def _prog() -> str:
    """``landslide`` when run as the installed command, else ``python -m landslide_core``."""
    name = os.path.basename(sys.argv[0] or "")
    return "landslide" if name in ("landslide", "landslide.exe") else "python -m landslide_core"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_prog(), description=t("cli.description"))
    parser.add_argument("-v", "--verbose", action="store_true", help=t("cli.verbose"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"landslide_core.commands.{name}")
        module.register(sub)
    for action in sub._choices_actions:  # the command list in the user's language
        if has(f"cli.command.{action.dest}"):
            action.help = t(f"cli.command.{action.dest}")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(t("cli.error", message=localized(exc)), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(t("cli.cancelled"), file=sys.stderr)
        return 130
    except OSError as exc:  # the file system refused: say what and where, not a traceback
        logging.getLogger("landslide_core").debug("file system error", exc_info=True)
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(t("cli.os_error", problem=exc.strerror or exc, where=where), file=sys.stderr)
        return 2
