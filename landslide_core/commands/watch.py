"""CLI command `watch`: a watchlist of areas checked over time, with history and alerts.

    watch add --name NAME --aoi AOI.geojson [--every 5d] [--cloud-limit 30] [--alert-ha 1.0]
              [--alert-count N] [--webhook URL] [--email ADDR] [--source demo] [--model PATH]
              [--baseline START END] [--threshold T]
    watch list [--json]
    watch remove NAME
    watch history NAME [--json]
    watch run [--due-only] [--now DATE] [--json]

The database: env ``LANDSLIDE_DB_URL`` (any SQLAlchemy URL), else SQLite in the data folder.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Optional

from ..errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "watch", help="watch areas over time: scheduled checks, history and alerts",
        description="Keep a watchlist of areas, check them when new clear scenes arrive, keep their "
                    "history and send alerts. Database: env LANDSLIDE_DB_URL, else SQLite in the data folder.")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    sub = p.add_subparsers(dest="watch_command", metavar="SUBCOMMAND")

    a = sub.add_parser("add", help="add an area to the watchlist",
                       description="Add an area to the watchlist. Nothing is written when an input is wrong.")
    a.add_argument("--name", required=True, help="a short, unique name for the area")
    a.add_argument("--aoi", required=True, metavar="AOI.geojson", help="GeoJSON or KML file of the area (one polygon)")
    a.add_argument("--every", default="5d", metavar="CADENCE",
                   help="how often to check: a number and h, d or w (default 5d, Sentinel-2's revisit)")
    a.add_argument("--cloud-limit", type=float, default=30.0, metavar="PCT",
                   help="a scene counts as clear under this cloud %% over the scene and the area (default 30)")
    a.add_argument("--alert-ha", type=float, default=1.0, metavar="HA",
                   help="alert when a check finds at least this many hectares of new landslides (default 1.0)")
    a.add_argument("--alert-count", type=int, default=None, metavar="N",
                   help="also alert when a check finds at least N new landslides")
    a.add_argument("--webhook", action="append", default=[], metavar="URL",
                   help="POST alerts as JSON to this URL (repeatable)")
    a.add_argument("--email", action="append", default=[], metavar="ADDR",
                   help="e-mail alerts to this address through SMTP (repeatable; settings: README)")
    a.add_argument("--source", default="demo", help="imagery source: demo or earthengine (default demo)")
    a.add_argument("--model", metavar="PATH", help="model card (.json); default models/default.json")
    a.add_argument("--baseline", nargs=2, metavar=("START", "END"),
                   help="the window the first check compares against (default: the 30 days before today)")
    a.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="decision threshold 0-1 (default: the model card's)")
    a.set_defaults(func=run_add)

    ls = sub.add_parser("list", help="the watched areas, their last check and next due time")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=run_list)

    rm = sub.add_parser("remove", help="remove an area with its history")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(func=run_remove)

    h = sub.add_parser("history", help="the checks of one area, oldest first")
    h.add_argument("name", metavar="NAME")
    h.add_argument("--json", action="store_true", help="print JSON instead of a table")
    h.set_defaults(func=run_history)

    r = sub.add_parser("run", help="check every area once (with --due-only: every due area)",
                       description="Check every area once: the newest clear scene since the last check "
                                   "against the last one used. Safe to start twice at once. For cron or a "
                                   "systemd timer use --due-only (see the README).")
    r.add_argument("--due-only", action="store_true", help="check only the areas whose cadence has come round")
    r.add_argument("--now", metavar="DATE",
                   help="act as if it were this day (YYYY-MM-DD, or an ISO time in UTC): replay the past")
    r.add_argument("--json", action="store_true", help="print the run's report as JSON")
    r.set_defaults(func=run_run)


def _store():
    from ..watch.store import WatchStore

    return WatchStore()


def _read_aoi(path_text: str) -> bytes:
    path = Path(path_text)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"The AOI file {path} does not exist.", "Give the path of a GeoJSON or KML file.") from None
    except OSError as exc:
        raise InputError(f"The AOI file {path} cannot be read ({exc.strerror}).", "Check the path.") from None


def run_add(args: argparse.Namespace) -> int:
    from ..sources.request import DateWindow
    from ..watch.areas import new_area
    from ..watch.records import EMAIL, utc_now

    baseline = DateWindow.parse(*args.baseline, label="baseline window") if args.baseline else None
    path = Path(args.aoi)
    new = new_area(args.name, _read_aoi(args.aoi), every=args.every, cloud_limit_pct=args.cloud_limit,
                   alert_ha=args.alert_ha, alert_count=args.alert_count, webhooks=args.webhook,
                   emails=args.email, source=args.source, model=args.model, baseline=baseline,
                   detection_options={"threshold": args.threshold}, aoi_label=path.name)
    with _store() as store:
        area = store.add_area(new, utc_now())
    print(f"watching '{area.name}': every {area.cadence_text}, cloud limit {area.cloud_limit_pct:g}%, "
          f"source {area.source}, baseline {area.baseline}, alert {area.rule.describe()}"
          + (f", alerts to {', '.join(str(c) for c in area.channels)}" if area.channels else ", no alert channel"))
    if any(c.kind == EMAIL for c in area.channels):
        from ..watch.channels import smtp_settings

        if not smtp_settings().host:
            print("warning: no SMTP server is configured, so e-mail alerts will fail (and be retried) until "
                  "LANDSLIDE_SMTP_HOST is set (see the README).", file=sys.stderr)
    return 0


def _fmt_time(value: Optional[dt.datetime]) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _finding(check) -> str:
    if check is None:
        return "never checked"
    if check.status == "ok":
        return f"ok: {check.new_count} new, {check.new_ha:.2f} ha"
    return check.status_label


def run_list(args: argparse.Namespace) -> int:
    with _store() as store:
        areas = store.list_areas()
        last = store.last_checks()
    if args.json:
        out = []
        for a in areas:
            d = a.to_json()
            d["last_check"] = last[a.id].to_json() if a.id in last else None
            out.append(d)
        print(json.dumps(out, indent=2, default=str))
        return 0
    if not areas:
        print("The watchlist is empty: add an area with `watch add --name NAME --aoi AOI.geojson`.")
        return 0
    rows = [("name", "every", "source", "last check (UTC)", "last finding", "next due (UTC)", "alerts to")]
    for a in areas:
        c = last.get(a.id)
        rows.append((a.name, a.cadence_text, a.source, _fmt_time(c.finished_at if c else None), _finding(c),
                     _fmt_time(a.next_due_at) if a.next_due_at else "now", ", ".join(str(ch) for ch in a.channels) or "-"))
    _print_table(rows)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    with _store() as store:
        store.area(args.name)  # a clear message when there is none
        store.remove_area(args.name)
    print(f"removed '{args.name}' and its history (result folders are kept)")
    return 0


def run_history(args: argparse.Namespace) -> int:
    with _store() as store:
        area = store.area(args.name)
        checks = store.history(area.id)
        alerts = store.alerts_of_area(area.id)
    by_check: dict[int, list] = {}
    for al in alerts:
        by_check.setdefault(al.check_id, []).append(al)
    if args.json:
        out = {"area": area.to_json(), "checks": []}
        for c in checks:
            d = c.to_json()
            d["alerts"] = [al.to_json() for al in by_check.get(c.id, [])]
            out["checks"].append(d)
        print(json.dumps(out, indent=2, default=str))
        return 0
    if not checks:
        print(f"'{area.name}' has not been checked yet: run `watch run`.")
        return 0
    rows = [("checked (UTC)", "status", "before", "after", "new", "ha", "alerts", "reason / result")]
    for c in checks:
        al = ", ".join(f"{x.channel.kind} {x.status}" for x in by_check.get(c.id, [])) or "-"
        rows.append((_fmt_time(c.finished_at), c.status_label, str(c.baseline_date or "-"), str(c.scene_date or "-"),
                     "-" if c.new_count is None else str(c.new_count),
                     "-" if c.new_ha is None else f"{c.new_ha:.2f}", al,
                     (c.result_folder or "") if c.status == "ok" else _short(c.reason or "")))
    _print_table(rows)
    return 0


def _parse_now(text: Optional[str]):
    from ..watch.runner import Clock

    if not text:
        return Clock()
    today = dt.datetime.now(dt.timezone.utc).date()
    try:
        if len(text.strip()) == 10:
            day = dt.date.fromisoformat(text.strip())
            clock = Clock.at_date(day)
        else:
            moment = dt.datetime.fromisoformat(text.strip())
            if moment.tzinfo is not None:
                moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
            clock = Clock(moment)
    except ValueError:
        raise InputError(f"--now '{text}' is not a date.", "Write it as YYYY-MM-DD (or an ISO time).") from None
    if clock.today() > today:
        raise InputError(f"--now {text} is in the future (today is {today}).",
                         "Give today or an earlier day: no scene exists after today.")
    return clock


def run_run(args: argparse.Namespace) -> int:
    from ..watch.runner import SKIPPED, WatchRunner

    clock = _parse_now(args.now)

    def progress(area: str, message: str) -> None:
        if not args.json:
            print(f"{area}: {message}", file=sys.stderr, flush=True)

    with _store() as store:
        report = WatchRunner(store, clock=clock, progress=progress).run(due_only=args.due_only)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
        return report.exit_code
    for o in report.outcomes:
        if o.status == SKIPPED:
            print(f"{o.area}: skipped ({o.note})")
        elif o.status == "ok":
            c = o.check
            print(f"{o.area}: {c.new_count} new landslide(s), {c.new_ha:.2f} ha ({c.baseline_date} -> {c.scene_date}); "
                  f"result in {c.result_folder}")
        else:
            print(f"{o.area}: {o.check.status_label if o.check else o.status}: {o.note}")
    checked = len(report.outcomes) - report.count(SKIPPED)
    print(f"checked {checked} area(s), skipped {report.count(SKIPPED)}; alerts sent {len(report.alerts.sent)}, "
          f"failed {len(report.alerts.failed)}")
    for alert_id, error in report.alerts.failed.items():
        print(f"alert {alert_id} failed (retried on the next run): {error}", file=sys.stderr)
    return report.exit_code


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _print_table(rows: list[tuple]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
