"""`python -m landslide_core sources`: each imagery source's readiness, in plain words.

``sources scenes --source demo --aoi area.geojson --pre 2023-01-01 2023-02-28 --post ...``
lists the scenes of both windows (date, id, cloud %, AOI coverage).
"""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("sources", help="show which imagery sources are ready, or list scenes",
                              description="Show each imagery source's readiness, or list scenes.")
    p.add_argument("--offline", action="store_true",
                   help="do not try to connect to Earth Engine (check the configuration only)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run_readiness)
    sub = p.add_subparsers(dest="sources_command", metavar="SUBCOMMAND")
    s = sub.add_parser("scenes", help="list the scenes of the before and after windows")
    s.add_argument("--source", default="demo", help="demo, earthengine or local (default demo)")
    s.add_argument("--aoi", required=True, help="GeoJSON or KML file of the area")
    s.add_argument("--pre", nargs=2, required=True, metavar=("START", "END"), help="'before' window")
    s.add_argument("--post", nargs=2, required=True, metavar=("START", "END"), help="'after' window")
    s.add_argument("--cloud", type=float, default=30.0, help="scene cloud limit in %% (default 30)")
    s.add_argument("--json", action="store_true", help="print JSON instead of text")
    s.set_defaults(func=run_scenes)


def _readiness(name: str, offline: bool):
    from landslide_core.sources import get_source

    source = get_source(name)
    if name == "earthengine":
        return source.readiness(connect=not offline)
    return source.readiness()


def run_readiness(args) -> int:
    from landslide_core.sources import SOURCE_NAMES

    results = {name: _readiness(name, args.offline) for name in SOURCE_NAMES}
    if args.json:
        print(json.dumps({n: {"ready": r.ready, "message": r.message} for n, r in results.items()}, indent=2))
        return 0
    from ..i18n import t

    print(t("cli.sources.title"))
    for name, r in results.items():
        state = t("cli.sources.ready") if r.ready else t("cli.sources.not_ready")
        lines = textwrap.wrap(r.text(), width=88)  # in LANDSLIDE_LANG where the catalogue has it
        print(f"  {name:<12} {state}")
        for line in lines:
            print(f"      {line}")
    return 0


def run_scenes(args) -> int:
    from landslide_core.fileio import read_bytes_bounded
    from landslide_core.sources import AnalysisRequest, DateWindow, get_source, parse_aoi
    from landslide_core.sources.aoi import MAX_AOI_TEXT_CHARS, aoi_warnings

    path = Path(args.aoi)
    aoi = parse_aoi(read_bytes_bounded(path, "The area file (--aoi)", MAX_AOI_TEXT_CHARS), filename=path.name)
    request = AnalysisRequest(aoi, DateWindow.parse(*args.pre, label="'before' window"),
                              DateWindow.parse(*args.post, label="'after' window"), args.cloud)
    request.validate()
    for warning in aoi_warnings(aoi):
        print(f"warning: {warning}", file=sys.stderr)
    source = get_source(args.source)
    out = {}
    for role, window in (("pre", request.pre), ("post", request.post)):
        out[role] = [s.to_json() for s in source.list_scenes(request, window)]
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for role, window in (("pre", request.pre), ("post", request.post)):
        print(f"{role} window {window} ({args.source}):")
        for s in out[role]:
            mark = "" if s["scene_cloud_pct"] <= args.cloud else "  (over the cloud limit)"
            print(f"  {s['date']}  {s['scene_id']:<40} scene cloud {s['scene_cloud_pct']:5.1f}%  "
                  f"area cloud {s['aoi_cloud_pct']:5.1f}%  covered {s['aoi_coverage_pct']:5.1f}%{mark}")
        if not out[role]:
            print("  (no scenes)")
    return 0
