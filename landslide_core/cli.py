"""`python -m landslide_core`: the command-line entry.

Each command lives in ``landslide_core/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
Exit codes: 0 success, 2 bad input, 3 model problem, 4 source problem, 130 cancelled,
1 an unexpected error (a bug: please report it with the log). A file system error
(a path that cannot be read or written) is reported in one line with exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Optional, Sequence

from .errors import UserError

COMMAND_MODULES = ("detect", "fetch", "batch", "sources", "generate", "training", "watch", "dataset", "experiment")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m landslide_core",
        description="Landslide monitor: detect landslides and their change in Sentinel-2 scenes.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"landslide_core.commands.{name}")
        module.register(sub)
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
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except OSError as exc:  # the file system refused: say what and where, not a traceback
        logging.getLogger("landslide_core").debug("file system error", exc_info=True)
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"error: {exc.strerror or exc}{where}. Check the paths given and that they can be read and "
              "written (run with -v for details).", file=sys.stderr)
        return 2
