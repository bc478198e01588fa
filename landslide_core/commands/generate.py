"""CLI commands: generate (synthetic events and Landslide4Sense-style training sets).

    python -m landslide_core generate event --out DIR [--size N] [--seed S] [--lon X --lat Y]
                                            [--pre DATE] [--post DATE] [--landslides N] [--no-clouds]
    python -m landslide_core generate l4s --out DIR --patches N [--seed S] [--share F]
"""
from __future__ import annotations

import json
import sys
import time

from ..errors import InputError
from ..fileio import ensure_writable_folder

DEFAULT_LON, DEFAULT_LAT = -75.4, -11.3


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="generate synthetic scenes or a Landslide4Sense-style training set",
                              description="Make synthetic Sentinel-2 L1C landslide data with known ground truth.")
    sub = p.add_subparsers(dest="what", metavar="WHAT")
    e = sub.add_parser("event", help="a pre/post scene pair with new landslides: pre.tif, post.tif, truth.tif",
                       description="Write pre.tif and post.tif (scene GeoTIFFs: B1..B12 L1C DN, elevation, valid) "
                                   "and truth.tif (0 none, 1 new landslide, 2 old scar) into --out.")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--size", type=int, default=512, help="scene size in 10 m pixels (default 512)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--lon", type=float, default=None, help=f"centre longitude (default {DEFAULT_LON})")
    e.add_argument("--lat", type=float, default=None, help=f"centre latitude (default {DEFAULT_LAT})")
    e.add_argument("--pre", default="2020-01-20", help="pre-event date (default 2020-01-20)")
    e.add_argument("--post", default="2020-04-18", help="post-event date (default 2020-04-18)")
    e.add_argument("--landslides", type=int, default=None, help="number of new landslides (default: ~1 per km2)")
    e.add_argument("--no-clouds", action="store_false", dest="clouds", help="cloud-free scenes")
    e.set_defaults(func=cmd_event)
    l4s = sub.add_parser("l4s", help="a Landslide4Sense-style training set (img/image_N.h5, mask/mask_N.h5)",
                         description="Write 128x128x14 patches in Landslide4Sense units with masks (new landslides "
                                     "and old scars = 1). The mask counts both, since one image shows scars.")
    l4s.add_argument("--out", required=True, help="output folder (new or empty)")
    l4s.add_argument("--patches", type=int, required=True, help="number of patches")
    l4s.add_argument("--seed", type=int, default=0)
    l4s.add_argument("--share", type=float, default=0.02, help="landslide-pixel share of the set (default 0.02)")
    l4s.set_defaults(func=cmd_l4s)
    p.set_defaults(func=lambda args: _help(p))


def _help(parser) -> int:
    parser.print_help()
    return 2


def cmd_event(args) -> int:
    from ..grid import grid_centered
    from ..synthetic import generate_event, write_event

    if (args.lon is None) != (args.lat is None):
        raise InputError("Give both --lon and --lat, or neither (default: the Huanuco study area).")
    lon = DEFAULT_LON if args.lon is None else args.lon
    lat = DEFAULT_LAT if args.lat is None else args.lat
    if not (-180.0 <= lon <= 180.0 and -80.0 <= lat <= 84.0):
        raise InputError(f"The centre ({lon}, {lat}) is outside the UTM range.",
                         "Give a longitude in -180..180 and a latitude in -80..84.")
    if args.seed < 0:
        raise InputError(f"The seed must be >= 0, got {args.seed}.")
    ensure_writable_folder(args.out)
    t0 = time.perf_counter()
    event = generate_event(grid_centered(lon, lat, args.size, args.size), seed=args.seed, pre_date=args.pre,
                           post_date=args.post, clouds=args.clouds, n_new_landslides=args.landslides)
    paths = write_event(event, args.out)
    summary = {
        "out": {k: str(v) for k, v in paths.items()}, "size_px": args.size, "seed": args.seed,
        "new_landslide_px": int(event.new_landslides.sum()), "old_scar_px": int(event.old_scars.sum()),
        "pre_cloud_percent": event.pre.provenance.get("cloud_percent"),
        "post_cloud_percent": event.post.provenance.get("cloud_percent"),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    print(json.dumps(summary))
    return 0


def cmd_l4s(args) -> int:
    from ..synthetic import write_l4s_dataset

    if args.seed < 0:
        raise InputError(f"The seed must be >= 0, got {args.seed}.")
    ensure_writable_folder(args.out)

    def progress(done: int, total: int, stage: str) -> None:
        print(f"\r{stage}: {done}/{total}", end="", file=sys.stderr, flush=True)

    out = write_l4s_dataset(args.out, args.patches, seed=args.seed, landslide_share=args.share, progress=progress)
    print("", file=sys.stderr)
    print((out / "synthetic_l4s.json").read_text())
    return 0
