"""CLI command `fetch`: the 'before' and 'after' scenes of an area into a folder.

``python -m landslide_core fetch --aoi AOI.geojson (or --bbox W S E N) --pre-start D --pre-end D
--post-start D --post-end D [--cloud-limit PCT] [--source demo|earthengine|local] --out DIR``
writes ``DIR/pre.tif``, ``DIR/post.tif`` and ``DIR/provenance.json`` through the same scene
cache as the dashboard, with a progress bar. Exit 2 on bad input, 4 on a source problem,
130 when interrupted. ``detect --pre DIR/pre.tif --post DIR/post.tif`` reads the pair.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import InputError
from .stage_bars import StageBars

SOURCES = ("demo", "earthengine", "local")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fetch", help="fetch the before and after scenes of an area into a folder",
        description="Fetch the 'before' and 'after' scenes of an area (scene GeoTIFFs of the band "
                    "contract) into --out: pre.tif, post.tif and provenance.json. Uses the same cache "
                    "as the dashboard, so a repeat is instant.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--aoi", metavar="AOI.geojson", help="the area: a GeoJSON or KML file with one polygon")
    where.add_argument("--bbox", nargs=4, type=float, metavar=("W", "S", "E", "N"),
                       help="the area as a box in degrees: west south east north")
    add_scene_arguments(p, per="window")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for pre.tif, post.tif, provenance.json")
    p.set_defaults(func=run)


def add_scene_arguments(p: argparse.ArgumentParser, per: str) -> None:
    """The date windows, cloud limit, composite and source arguments shared by ``fetch`` and
    ``batch``; ``per`` says what one composite image covers ("window", "window and tile")."""
    for role, label in (("pre", "'before'"), ("post", "'after'")):
        for end in ("start", "end"):
            p.add_argument(f"--{role}-{end}", required=True, metavar="YYYY-MM-DD",
                           help=f"{end} of the {label} window (inclusive)")
    p.add_argument("--cloud-limit", type=float, default=30.0, metavar="PCT",
                   help="scene cloud limit in %% (default 30)")
    p.add_argument("--composite", default="least_cloudy", choices=("least_cloudy", "median"),
                   help=f"one image per {per}: the least cloudy date (default) or a masked median")
    p.add_argument("--source", default="demo", metavar="SOURCE",
                   help="demo (synthetic, offline; default), earthengine, or local (your GeoTIFFs)")
    p.add_argument("--local-pre", metavar="PRE.tif", help="with --source local: the 'before' GeoTIFF")
    p.add_argument("--local-post", metavar="POST.tif", help="with --source local: the 'after' GeoTIFF")
    p.add_argument("--local-dem", metavar="DEM.tif", help="with --source local: a DEM GeoTIFF (optional)")


def bbox_aoi(west: float, south: float, east: float, north: float) -> dict:
    """A lon/lat box -> AOI polygon, or InputError saying which edge is wrong."""
    values = {"west": west, "south": south, "east": east, "north": north}
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        raise InputError(f"--bbox {', '.join(bad)} is not a number.", "Give four numbers in degrees: W S E N.")
    if west >= east:
        raise InputError(f"--bbox west ({west}) must be less than east ({east}).",
                         "Give the box as W S E N, longitudes in degrees (-180..180).")
    if south >= north:
        raise InputError(f"--bbox south ({south}) must be less than north ({north}).",
                         "Give the box as W S E N, latitudes in degrees (-90..90).")
    return {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                               [west, north], [west, south]]]}


def read_aoi(path_text: str) -> dict:
    from ..sources import parse_aoi

    path = Path(path_text)
    if not path.is_file():
        raise InputError(f"The area file {path} does not exist (or is not a file).",
                         "Give a GeoJSON or KML file with one polygon.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"The area file {path} cannot be read ({exc.strerror}).", "Check its permissions.") from None
    return parse_aoi(data, filename=path.name)


def build_request(args: argparse.Namespace):
    from ..sources import AnalysisRequest, DateWindow

    aoi = read_aoi(args.aoi) if args.aoi else bbox_aoi(*args.bbox)
    request = AnalysisRequest(aoi, DateWindow.parse(args.pre_start, args.pre_end, "'before' window"),
                              DateWindow.parse(args.post_start, args.post_end, "'after' window"),
                              args.cloud_limit, args.composite)
    request.validate()
    return request


def source_choice(args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    """(the source's name, its ``--local-*`` scene paths) from the scene arguments; InputError for
    an unknown source, local scenes with another source, or ``--source local`` without both."""
    from ..sources import source_class

    name = source_class(args.source).name  # unknown names: InputError listing the known ones
    local = {"pre_path": args.local_pre, "post_path": args.local_post, "dem_path": args.local_dem}
    if name != "local":
        if any(local.values()):
            raise InputError("--local-pre/--local-post/--local-dem go with --source local.",
                             f"Drop them, or use --source local (not {args.source}).")
        return name, {}
    if not (args.local_pre and args.local_post):
        raise InputError("--source local needs your two scenes: --local-pre PRE.tif and --local-post POST.tif.",
                         "Give both GeoTIFFs (a DEM with --local-dem if they hold no elevation band).")
    return name, {k: v for k, v in local.items() if v}


def build_source(args: argparse.Namespace):
    from ..sources import get_source

    name, local = source_choice(args)
    return get_source(name, **local, grid_from="request") if name == "local" else get_source(name)


def run(args: argparse.Namespace) -> int:
    from ..sources.pair import fetch_pair

    request = build_request(args)
    source = build_source(args)
    bars = StageBars(unit="tile")
    try:
        record = fetch_pair(request, source, args.out, progress=bars)
    finally:
        bars.close()
    from ..i18n import t

    out = Path(args.out)
    for role in ("pre", "post"):
        r = record[role]
        cached = t("cli.fetch.cached") if r["from_cache"] else ""
        cloud = t("cli.fetch.cloud", pct=r["aoi_cloud_pct"]) if r.get("aoi_cloud_pct") is not None else ""
        dates = ", ".join(map(str, r["dates"] or [])) or t("cli.fetch.no_date")
        print(f"{role}: {dates}{cloud}{cached} -> {out / r['file']}")
    totals = record["totals"]
    print(t("cli.fetch.totals", requests=totals["requests"], mb=f"{totals['bytes_downloaded'] / 1e6:.1f}",
            provenance=str(out / "provenance.json")))
    if record["replaced"]:
        print(t("cli.fetch.replaced", files=", ".join(record["replaced"])))
    print(t("cli.fetch.next", folder=str(out)))
    return 0
