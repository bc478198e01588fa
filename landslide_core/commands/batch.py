"""CLI command `batch`: a whole region (thousands of km2) in tiles on Dask.

``python -m landslide_core batch --region REGION.geojson --pre-start D --pre-end D --post-start D
--post-end D [--cloud-limit PCT] [--source demo|earthengine|local] [--model M] --out DIR
[--scheduler ADDRESS] [--workers N] [--tile-km 10]`` (plus the detection settings of ``detect``)
writes ``DIR/change.tif`` and ``DIR/probability_post.tif`` (COG mosaics; a region across UTM
zones gets one of each per zone, ``change_epsg32718.tif`` ...), ``DIR/new_landslides.geojson``,
``DIR/new_landslides.gpkg`` and ``DIR/summary.json``; the tiles' work stays in ``DIR/work`` so a
rerun resumes.

Exit codes: 0 every tile mapped; 2 bad input; 3 model; 4 source; 5 some tiles failed (listed
with their reasons; run the same command again to retry them); 130 interrupted.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import InputError, UserError
from .stage_bars import StageBars

EXIT_INCOMPLETE = 5


class Incomplete(UserError):
    """Some tiles failed; the others are mapped."""

    exit_code = EXIT_INCOMPLETE


def register(subparsers) -> None:
    from .detect import add_detection_arguments
    from .fetch import add_scene_arguments

    p = subparsers.add_parser(
        "batch", help="map a whole region in tiles on Dask (a LocalCluster here, or --scheduler)",
        description="Map new landslides over a whole region: the region is cut into tiles on the analysis grid, "
                    "each tile is fetched, predicted and mapped by Dask workers, and the results are merged into "
                    "one map per UTM zone. Finished tiles are kept in DIR/work: a rerun resumes.")
    p.add_argument("--region", required=True, metavar="REGION.geojson",
                   help="the region: a GeoJSON or KML file with one polygon or multipolygon (EPSG:4326)")
    add_scene_arguments(p, per="window and tile")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (on a filesystem the workers share)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="an existing Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a LocalCluster here)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="workers of the LocalCluster, one torch thread each (default: the CPU count)")
    p.add_argument("--tile-km", type=float, default=10.0, metavar="KM",
                   help="tile size in km (default 10; rounded to whole prediction windows)")
    p.add_argument("--retries", type=int, default=2, metavar="N",
                   help="retries of a failed tile task before it is reported (default 2)")
    add_detection_arguments(p)
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace):
    from ..batch import BatchSettings
    from ..sources import DateWindow
    from .detect import options_from_args
    from .fetch import read_aoi, source_choice

    region = read_aoi(args.region)
    name, local = source_choice(args)
    workers = args.workers if args.workers is not None else max(1, os.cpu_count() or 1)
    if args.scheduler and args.workers is not None:
        raise InputError("--workers sizes the LocalCluster; with --scheduler the cluster's own workers run the tiles.",
                         "Drop --workers, or drop --scheduler to run here.")
    if workers < 1:
        raise InputError(f"--workers {workers} is not a number of workers.", "Give 1 or more, e.g. --workers 2.")
    if args.retries < 0:
        raise InputError(f"--retries {args.retries} is negative.", "Give 0 or more, e.g. --retries 2.")
    return BatchSettings(
        region=region,
        pre=DateWindow.parse(args.pre_start, args.pre_end, "'before' window"),
        post=DateWindow.parse(args.post_start, args.post_end, "'after' window"),
        out=args.out, cloud_limit_pct=args.cloud_limit, composite=args.composite, source=name,
        source_options=local,
        model=args.model, options=options_from_args(args), tile_km=args.tile_km, workers=workers,
        scheduler=args.scheduler, retries=args.retries)


def run(args: argparse.Namespace) -> int:
    import logging

    from ..batch import run_batch

    from ..batch.cluster import quiet_dask_logs

    quiet_dask_logs(logging.INFO if getattr(args, "verbose", False) else logging.CRITICAL)
    settings = settings_from_args(args)
    bars = StageBars(unit="tile", units={"shift": "part", "merge": "file"}, label_width=8)
    try:
        summary = run_batch(settings, progress=bars, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    finally:
        bars.close()
    tiles, totals = summary["tiles"], summary["totals"]
    print(f"tiles: {tiles['ok']} of {tiles['total']} mapped ({tiles['reused']['change']} reused), "
          f"{tiles['failed']} failed; {summary['region']['area_km2']:.1f} km2 in {summary['region']['zones']} "
          f"UTM zone(s); {summary['timings_s']['total']:.1f} s")
    print(f"new landslides: {totals['new_count']} covering {totals['new_landslides_ha']:.2f} ha; persisting "
          f"{totals['persisting_ha']:.2f} ha; not assessable {totals['not_assessable_ha']:.2f} ha")
    for zone in summary["zones"]:
        outs = zone["outputs"]
        if outs:
            print(f"{zone['id']}: {', '.join(outs.values())}")
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    print(f"outputs in {args.out} (new_landslides.geojson, new_landslides.gpkg, summary.json)")
    if tiles["failed"]:
        for f in tiles["failed_tiles"][:10]:
            print(f"failed: {f['tile']} ({f['stage']}): {f['reason']}", file=sys.stderr)
        raise Incomplete(f"{tiles['failed']} of {tiles['total']} tiles failed (all listed in summary.json).",
                         "Run the same command again to retry them; finished tiles are reused.")
    return 0
