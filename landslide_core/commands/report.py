"""CLI commands `report` (the situation report, PDF or HTML) and `export` (every GIS output
named by place and date, and one ZIP), both from a finished result folder: the dashboard's or
``detect --pre --post``'s. No model runs."""
from __future__ import annotations

import argparse

from ..errors import InputError
from ..i18n import LANGUAGES, current_language, t, use_language, user_error


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help=t("cli.report.help"), description=t("cli.report.description"))
    p.add_argument("result", metavar="RESULT_DIR", help=t("cli.arg.result"))
    p.add_argument("--out", metavar="report.pdf|report.html", required=True, help=t("cli.report.out"))
    _common(p)
    p.set_defaults(func=run_report)

    e = subparsers.add_parser("export", help=t("cli.export.help"), description=t("cli.export.description"))
    e.add_argument("result", metavar="RESULT_DIR", help=t("cli.arg.result"))
    e.add_argument("--out", metavar="DIR", required=True, help=t("cli.export.out"))
    _common(e)
    e.add_argument("--min-area", metavar="HA", type=float, default=None, help=t("cli.arg.min_area"))
    e.set_defaults(func=run_export)


def _common(p) -> None:
    p.add_argument("--lang", choices=sorted(LANGUAGES), default=None, help=t("cli.arg.lang"))
    p.add_argument("--threshold", metavar="T", type=float, default=None, help=t("cli.arg.threshold"))
    p.add_argument("--area-name", metavar="NAME", default=None, help=t("cli.arg.area_name"))


def _check(args: argparse.Namespace) -> None:
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise user_error(InputError, "errors.threshold_range", value=args.threshold)


def run_report(args: argparse.Namespace) -> int:
    from ..report import write_report

    _check(args)
    lang = args.lang or current_language()
    with use_language(lang):
        path = write_report(args.result, args.out, lang, args.threshold, args.area_name)
        print(t("cli.report.written", lang, path=str(path)))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..report import write_outputs

    _check(args)
    lang = args.lang or current_language()
    with use_language(lang):
        bundle = write_outputs(args.result, Path(args.out), lang, args.threshold, args.min_area, args.area_name)
        print(t("cli.export.written", lang, count=len(bundle.files), folder=args.out, zip=bundle.zip_name))
    return 0
