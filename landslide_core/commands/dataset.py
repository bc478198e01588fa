"""`python -m landslide_core dataset ...`: build a dataset of one's own (the thesis's L4S-PE).

    dataset create DIR --window START END [--pre-window START END] [--source demo] [--cloud-limit 30]
                       [--roi-size 1500] [--name NAME]
    dataset add DIR (--inventory FILE | --point LON LAT | --cover AREA_FILE | --sample AREA_FILE --count N [--seed S])
    dataset fetch DIR [--refetch]
    dataset suggest DIR [--model index] [--roi ID]
    dataset label DIR ROI (--accept-suggestion [--model M] | --geojson FILE | --clear | --skip) [--flag F ...]
                       [--labeller NAME]
    dataset export DIR --out OUT [--val-share 0.2] [--seed 0] [--append]
    dataset merge OUT SRC [SRC ...] [--names A B ...] [--val-share 0.2] [--seed 0]
    dataset status DIR [--json]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser("dataset", help="build a labelled dataset of your own region (ROIs, imagery, labels, "
                                              "Landslide4Sense export)",
                              description="Build a dataset like the thesis's L4S-PE: regions of interest, their "
                                          "imagery through the usual sources and cache, assisted labels, and an "
                                          "export to the Landslide4Sense layout that training reads.")
    sub = p.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")

    c = sub.add_parser("create", help="a new dataset folder with its source, date windows and ROI size")
    c.add_argument("dir", metavar="DIR")
    c.add_argument("--name", help="dataset name (default: the folder name)")
    c.add_argument("--source", default="demo", help="demo, earthengine or local (default demo)")
    c.add_argument("--source-options", dest="source_options", help="JSON options of the source")
    c.add_argument("--window", nargs=2, required=True, metavar=("START", "END"),
                   help="date window of the scenes to label (YYYY-MM-DD)")
    c.add_argument("--pre-window", nargs=2, dest="pre_window", metavar=("START", "END"),
                   help="date window of the pre-event scenes (optional; shown beside the scene to label)")
    c.add_argument("--cloud-limit", type=float, default=30.0, dest="cloud_limit", help="cloud limit %% (default 30)")
    c.add_argument("--roi-size", type=float, default=1500.0, dest="roi_size", help="ROI side in metres (default 1500)")
    c.set_defaults(func=cmd_create)

    a = sub.add_parser("add", help="add ROIs from an inventory, a point, an area to cover or to sample")
    a.add_argument("dir", metavar="DIR")
    g = a.add_mutually_exclusive_group(required=True)
    g.add_argument("--inventory", help="GeoJSON of points or polygons, or CSV with lon,lat: one ROI per place")
    g.add_argument("--point", nargs=2, type=float, metavar=("LON", "LAT"), help="one ROI centred here")
    g.add_argument("--cover", help="GeoJSON area: the ROIs that tile it")
    g.add_argument("--sample", help="GeoJSON area: --count ROIs at random inside it")
    a.add_argument("--count", type=int, help="how many ROIs to sample (with --sample)")
    a.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    a.set_defaults(func=cmd_add)

    f = sub.add_parser("fetch", help="fetch every ROI's imagery (cached; failed ROIs are named)")
    f.add_argument("dir", metavar="DIR")
    f.add_argument("--refetch", action="store_true", help="fetch again ROIs that have imagery")
    f.set_defaults(func=cmd_fetch)

    s = sub.add_parser("suggest", help="a model's suggested labels for the ROIs (cached)")
    s.add_argument("dir", metavar="DIR")
    s.add_argument("--model", default="index", help="model name or card (default: index, training-free)")
    s.add_argument("--roi", help="one ROI id (default: all with imagery)")
    s.set_defaults(func=cmd_suggest)

    lab = sub.add_parser("label", help="set an ROI's label from the suggestion or a GeoJSON file; flag or skip it")
    lab.add_argument("dir", metavar="DIR")
    lab.add_argument("roi", metavar="ROI")
    how = lab.add_mutually_exclusive_group()
    how.add_argument("--accept-suggestion", action="store_true", dest="accept", help="accept the model's suggestion")
    how.add_argument("--geojson", help="GeoJSON polygons (lon/lat) as the label")
    how.add_argument("--clear", action="store_true", help="accept an empty label (no landslide here)")
    how.add_argument("--skip", action="store_true", help="skip the ROI (left out of the export)")
    lab.add_argument("--model", default="index", help="suggestion model (default index)")
    lab.add_argument("--flag", action="append", default=[], help="quality flag: cloud, noise, not_a_landslide")
    lab.add_argument("--labeller", default="", help="who labelled it")
    lab.set_defaults(func=cmd_label)

    e = sub.add_parser("export", help="the labelled ROIs as Landslide4Sense patches with a manifest and split")
    e.add_argument("dir", metavar="DIR")
    e.add_argument("--out", required=True, help="output folder (new or empty, or existing with --append)")
    e.add_argument("--val-share", type=float, default=0.2, dest="val_share")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--append", action="store_true", help="add to an earlier export in --out")
    e.set_defaults(func=cmd_export)

    m = sub.add_parser("merge", help="merge Landslide4Sense-layout datasets (e.g. L4S + L4S-PE)")
    m.add_argument("out", metavar="OUT")
    m.add_argument("sources", metavar="SRC", nargs="+")
    m.add_argument("--names", nargs="+", help="one name per source (default: folder names)")
    m.add_argument("--val-share", type=float, default=0.2, dest="val_share")
    m.add_argument("--seed", type=int, default=0)
    m.set_defaults(func=cmd_merge)

    st = sub.add_parser("status", help="the dataset's ROIs by status")
    st.add_argument("dir", metavar="DIR")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _progress(done: int, total: int, stage: str) -> None:
    print(f"\r{stage}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def cmd_create(args) -> int:
    from ..datasets import DatasetSpec, DatasetStore

    options = {}
    if args.source_options:
        try:
            options = json.loads(args.source_options)
        except json.JSONDecodeError as exc:
            raise InputError(f"--source-options is not valid JSON ({exc.msg}).") from None
    spec = DatasetSpec(name=args.name or Path(args.dir).expanduser().resolve().name, source=args.source,
                       window=tuple(args.window), pre_window=tuple(args.pre_window) if args.pre_window else None,
                       cloud_limit_pct=args.cloud_limit, roi_size_m=args.roi_size, source_options=options)
    store = DatasetStore.create(args.dir, spec)
    print(store.root)
    return 0


def cmd_add(args) -> int:
    from ..datasets import DatasetStore, roi_at, rois_covering, rois_from_file, sample_rois
    from ..fileio import read_bytes_bounded

    store = DatasetStore(args.dir)
    size = store.spec.roi_size_m

    def area(path: str) -> dict:
        try:
            return json.loads(read_bytes_bounded(path, "The area file", 20_000_000).decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"The area file {path} is not GeoJSON ({exc}).") from None

    if args.inventory:
        rois = rois_from_file(args.inventory, size)
    elif args.point:
        rois = [roi_at(args.point[0], args.point[1], size, "point given on the command line")]
    elif args.cover:
        rois = rois_covering(area(args.cover), size, f"covering {Path(args.cover).name}")
    else:
        if not args.count:
            raise InputError("--sample needs --count N (how many ROIs).")
        rois = sample_rois(area(args.sample), args.count, size, args.seed)
    result = store.add_rois(rois)
    print(f"added {len(result.added)} ROIs ({len(result.already)} already there); "
          f"the dataset has {len(store.roi_ids())}")
    for r in result.added:
        print(f"  {r.id}  {r.lon:.5f} {r.lat:.5f}  EPSG:{r.epsg}")
    return 0


def cmd_fetch(args) -> int:
    from ..datasets import DatasetStore
    from ..datasets.imagery import fetch_rois

    store = DatasetStore(args.dir)
    report = fetch_rois(store, progress=_progress, refetch=args.refetch)
    print(report.text())
    for roi_id, why in report.failed.items():
        print(f"  failed {roi_id}: {why}", file=sys.stderr)
    return 0


def cmd_suggest(args) -> int:
    from ..datasets import DatasetStore
    from ..datasets.suggest import suggest
    from ..detection import load_model

    store = DatasetStore(args.dir)
    loaded = load_model(args.model)
    ids = [args.roi] if args.roi else [i for i in store.roi_ids() if store.has_scene(i)]
    for roi_id in ids:
        polys = suggest(store, roi_id, args.model, loaded)
        print(f"{roi_id}: {len(polys)} suggested polygons")
    return 0


def cmd_label(args) -> int:
    from ..datasets import DatasetStore, RoiLabel
    from ..datasets.labels import normalise_features
    from ..datasets.suggest import suggest
    from ..fileio import read_bytes_bounded

    store = DatasetStore(args.dir)
    roi = store.roi(args.roi)
    old = store.label(roi.id)
    label = RoiLabel(roi.id, old.status, old.features, sorted(set(old.flags) | set(args.flag)),
                     args.labeller or old.labeller, suggestion_model=old.suggestion_model)
    if args.accept:
        label.features, label.status, label.suggestion_model = suggest(store, roi.id, args.model), "labelled", args.model
    elif args.geojson:
        try:
            data = json.loads(read_bytes_bounded(args.geojson, "The label file", 20_000_000).decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{args.geojson} is not GeoJSON ({exc}).") from None
        feats = data.get("features") if isinstance(data, dict) and data.get("type") == "FeatureCollection" else [data]
        label.features, label.status = normalise_features(feats, roi.grid().crs), "labelled"
    elif args.clear:
        label.features, label.status = [], "labelled"
    elif args.skip:
        label.status = "skipped"
    elif not args.flag:
        raise InputError("Nothing to do.", "Give --accept-suggestion, --geojson FILE, --clear, --skip or --flag F.")
    store.save_label(label)
    print(f"{roi.id}: {label.status}, {len(label.features)} polygons"
          + (f", flags {', '.join(label.flags)}" if label.flags else ""))
    return 0


def cmd_export(args) -> int:
    from ..datasets import DatasetStore
    from ..datasets.export import export_dataset

    manifest = export_dataset(DatasetStore(args.dir), args.out, args.val_share, args.seed, args.append, _progress)
    print(f"{len(manifest['patches'])} patches ({manifest['split']['train']} train, {manifest['split']['val']} "
          f"validation), {len(manifest['excluded'])} ROIs left out; written to {args.out}")
    for e in manifest["excluded"]:
        print(f"  left out {e['group']}: {e['reason']}")
    return 0


def cmd_merge(args) -> int:
    from ..patches import merge_datasets

    manifest = merge_datasets(args.sources, args.out, args.names, args.val_share, args.seed, _progress)
    print(f"{len(manifest['patches'])} patches ({manifest['split']['train']} train, {manifest['split']['val']} "
          f"validation) from {', '.join(s['name'] for s in manifest['merged_from'])}; written to {args.out}")
    return 0


def cmd_status(args) -> int:
    from ..datasets import DatasetStore

    store = DatasetStore(args.dir)
    summary = store.summary()
    if args.json:
        rows = []
        for roi_id in store.roi_ids():
            lab = store.label(roi_id)
            rows.append({"roi": roi_id, "imagery": store.has_scene(roi_id), "status": lab.status,
                         "flags": lab.flags, "polygons": lab.polygon_count,
                         "fetch_error": store.fetch_record(roi_id).get("error")})
        print(json.dumps({"dataset": store.spec.to_json(), "summary": summary, "rois": rows}, indent=2))
        return 0
    print(f"{store.spec.name} ({store.root}): source {store.spec.source}, window {' to '.join(store.spec.window)}, "
          f"ROIs of {store.spec.roi_size_m:,.0f} m")
    print("  " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items()))
    return 0
