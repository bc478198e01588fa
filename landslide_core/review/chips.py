"""Chips from reviews: Landslide4Sense-layout patches cut from an analysis's own scenes.

``make_chips(result_dir, out_dir)`` (``python -m landslide_core chips --result RESULT_DIR
--out DATA_DIR``) writes, through the one patch exporter (:class:`landslide_core.patches.
PatchExporter`: 128 x 128 x 14 HDF5 ``img`` in L4S units through the band contract, ``mask``):

- one patch around every reviewed object, cut from the scene of its date (the 'after' scene
  for new, persisting and drawn landslides, the 'before' scene for "before only" ones, with
  the co-registration shift of the analysis taken back); confirmed and drawn objects are
  landslide pixels, rejected ones explicit negatives (mask 0, counted as ``negative_px``);
- background patches from reviewed-clean parts of the 'after' scene: tiles inside the area
  of the analysis where nothing was detected at the analysis's threshold except objects the
  reviewer rejected, mostly free of cloud, away from the object patches
  (``background_per_object`` of them per object patch).

Patches that overlap go into one group, so the train/validation split (by group, kept in
``split.json`` as patches are added) never puts one place on both sides; that split's
validation side is the held-out share used to score and compare models.

The dataset grows across analyses without duplicates. A group is named by its scene (an id
of the scene's source, dates and grid, so two analyses of the same scene agree) and its place.
Running again with the same reviews writes nothing; changed reviews rewrite only the groups
they touch and remove patches whose reviews were undone. A place already in the dataset from
another analysis of the same scene is skipped (and reported), not cut twice. The manifest
records where each patch came from: analysis, scene id, dates, bounds and the reviews in it.

The scenes come from the source cache, pinned while patches are cut; when the cache has
evicted one, it is fetched again through the analysis's source (the same scene: its dates are
checked) or, where that is impossible, the error says to run the analysis again.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
from rasterio.windows import Window

from ..errors import Cancelled, InputError, SourceError
from ..fileio import exclusive_lock
from ..patches.export import PATCH_PX, PatchExporter, polygon_mask, scene_tiles, tiles_touching
from ..progress import CancelToken, ProgressFn, check_cancel
from .store import Review, ReviewStore, active_reviews

#: A background tile needs at least this share of valid (cloud-free, finite) pixels.
MIN_BACKGROUND_VALID_SHARE = 0.95
DEFAULT_BACKGROUND_PER_OBJECT = 1.0
CHIPS_SOURCE = "review"


@dataclass
class ChipsReport:
    """What a ``chips`` run did."""

    out_dir: Path
    analysis: str
    objects: int = 0
    patches_added: int = 0
    patches_rewritten: int = 0
    patches_unchanged: int = 0
    patches_removed: int = 0
    background: int = 0
    skipped: list[str] = field(default_factory=list)
    total_patches: int = 0
    train: int = 0
    val: int = 0
    scene_fetched_again: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.patches_added or self.patches_rewritten or self.patches_removed)

    def text(self) -> str:
        what = (f"{self.patches_added} new patches, {self.patches_rewritten} rewritten, {self.patches_removed} removed, "
                f"{self.patches_unchanged} unchanged" if self.changed else
                f"nothing new: the {self.patches_unchanged} patches of these reviews are already in the dataset")
        out = (f"{self.objects} reviewed objects of analysis {self.analysis[:12]} -> {what} "
               f"({self.background} background). The dataset in {self.out_dir} holds {self.total_patches} patches "
               f"({self.train} train, {self.val} held out).")
        if self.skipped:
            out += " Skipped: " + "; ".join(self.skipped[:5]) + (" ..." if len(self.skipped) > 5 else "")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "analysis": self.analysis, "objects": self.objects,
                "patches_added": self.patches_added, "patches_rewritten": self.patches_rewritten,
                "patches_unchanged": self.patches_unchanged, "patches_removed": self.patches_removed,
                "background": self.background, "skipped": self.skipped, "total_patches": self.total_patches,
                "train": self.train, "val": self.val, "scene_fetched_again": self.scene_fetched_again}


# ---------------------------------------------------------------- scenes

def _request_of(result):
    from ..sources.request import AnalysisRequest, DateWindow

    req = result.request or {}
    return AnalysisRequest(req["aoi"], DateWindow.parse(*req["pre"]), DateWindow.parse(*req["post"]),
                           float(req.get("cloud_limit_pct", 30.0)), req.get("composite", "least_cloudy"))


def _source_of(result):
    """The analysis's source, built as it was (only sources that can fetch the same scene again)."""
    from ..sources import get_source

    name, version = (result.source or {}).get("name"), str((result.source or {}).get("version", ""))
    if name == "demo":
        options: dict[str, Any] = {}
        if "+timeline" in version:
            options["timeline"] = True
            if ":" in version:
                options["event_date"] = version.split(":", 1)[1]
        source = get_source("demo", **options)
    elif name == "earthengine":
        source = get_source("earthengine")
    else:
        return None
    return source if str(source.version) == version else None


def fetch_scene_again(result, date: str, cancel: Optional[CancelToken] = None) -> Path:
    """The scene of ``date`` fetched again through the analysis's source, checked to be the one
    the analysis used (same dates); SourceError when it cannot be."""
    what = "'after'" if date == "post" else "'before'"
    redo = ("Run the same analysis again on the Monitor page (it fetches the scenes again and keeps your "
            "reviews), then make the chips.")
    source = _source_of(result)
    if source is None:
        raise SourceError(f"The {what} scene of this analysis is no longer in the scene cache, and its source "
                          f"({(result.source or {}).get('name')}) cannot fetch it again from here.", redo)
    request = _request_of(result)
    readiness = source.readiness()
    if not readiness.ready:
        raise SourceError(f"The {what} scene of this analysis is no longer in the scene cache, and the source "
                          f"'{source.name}' is not ready to fetch it again: {readiness.message}", redo)
    fetched = source.fetch(request, request.pre if date == "pre" else request.post, cancel=cancel)
    want = ((result.provenance or {}).get(date) or {}).get("dates")
    got = (fetched.provenance or {}).get("dates")
    if want and got != want:
        raise SourceError(f"The {what} scene was fetched again but the source now gives another date ({got}, "
                          f"the analysis used {want}).", redo)
    return Path(fetched.path)


@contextlib.contextmanager
def analysis_scene(result, date: str, cancel: Optional[CancelToken] = None,
                   fetched_again: Optional[list[str]] = None) -> Iterator[Path]:
    """The analysis's scene of ``date`` ("pre"/"post"), pinned in the cache while in use."""
    from ..sources.cache import pin_scene

    path = Path(str((result.scenes or {}).get(date) or ""))
    with contextlib.ExitStack() as stack:
        if str(path) not in ("", "."):
            stack.enter_context(pin_scene(path))
        if not path.is_file():
            stack.close()
            path = fetch_scene_again(result, date, cancel)
            if fetched_again is not None:
                fetched_again.append(date)
            stack.enter_context(pin_scene(path))
        yield path


def scene_uid(reader, source_name: str = "") -> str:
    """An id of a scene by what decides its pixels: source, dates, scene ids and grid (two
    analyses of the same scene give the same id)."""
    prov = reader.provenance or {}
    scenes = [s.get("scene_id") or s.get("id") or s.get("date") for s in prov.get("scenes") or []
              if isinstance(s, dict)]
    key = {"source": source_name or prov.get("source"), "version": prov.get("source_version"),
           "seed": prov.get("seed"), "dates": prov.get("dates"), "scenes": scenes or prov.get("scene_ids"),
           "composite": prov.get("composite"), "crs": reader.crs.to_string(),
           "transform": [round(v, 6) for v in list(reader.transform)[:6]], "size": [reader.width, reader.height]}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- geometry

def _pre_shift_m(result) -> tuple[float, float]:
    """(dx, dy) in metres that take a 'before' object, drawn on the co-registered 'before'
    image, back onto the raw 'before' scene (zero when no shift was applied)."""
    summary = result.summary or {}
    shift = summary.get("coregistration") or {}
    grid = summary.get("grid") or {}
    t = grid.get("transform")
    if not shift.get("applied") or not t:
        return 0.0, 0.0
    return float(shift.get("cols_px", 0.0)) * float(t[0]), float(shift.get("rows_px", 0.0)) * float(t[4])


def _in_scene_crs(reviews: list[Review], crs, shift_m: tuple[float, float] = (0.0, 0.0)) -> list[dict]:
    from rasterio.warp import transform_geom
    from shapely import affinity
    from shapely.geometry import mapping, shape

    out = []
    for r in reviews:
        g = shape(transform_geom("EPSG:4326", crs, r.geometry))
        if shift_m != (0.0, 0.0):
            g = affinity.translate(g, xoff=shift_m[0], yoff=shift_m[1])
        out.append({"type": "Feature", "geometry": mapping(g), "properties": {"review_id": r.review_id}})
    return out


def _window_box(win: Window, transform):
    from shapely.geometry import box

    r0, c0 = int(win.row_off), int(win.col_off)
    x0, y0 = transform * (c0, r0)
    x1, y1 = transform * (c0 + int(win.width), r0 + int(win.height))
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _overlaps(a: Window, b: Window) -> bool:
    return not (a.col_off + a.width <= b.col_off or b.col_off + b.width <= a.col_off
                or a.row_off + a.height <= b.row_off or b.row_off + b.height <= a.row_off)


def _clusters(windows: list[Window]) -> list[list[Window]]:
    """Windows joined while they overlap (only the flush last row and column of the tile grid
    overlap their neighbours), each cluster sorted by place."""
    parent = list(range(len(windows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(windows)):
        for j in range(i + 1, len(windows)):
            if _overlaps(windows[i], windows[j]):
                parent[find(i)] = find(j)
    groups: dict[int, list[Window]] = {}
    for i, w in enumerate(windows):
        groups.setdefault(find(i), []).append(w)
    return sorted((sorted(g, key=lambda w: (w.row_off, w.col_off)) for g in groups.values()),
                  key=lambda g: (g[0].row_off, g[0].col_off))


def _bounds_lonlat(win: Window, transform, crs) -> list[float]:
    from rasterio.warp import transform_bounds

    b = _window_box(win, transform).bounds
    return [round(v, 7) for v in transform_bounds(crs, "EPSG:4326", *b)]


def _window_of(record: dict[str, Any]) -> Window:
    w = record.get("window") or {}
    return Window(w.get("col", 0), w.get("row", 0), w.get("width", PATCH_PX), w.get("height", PATCH_PX))


# ---------------------------------------------------------------- planning

@dataclass
class _Labelled:
    """A review in force on a scene, with its geometry in the scene's CRS."""

    review: Review
    analysis: str
    feature: dict[str, Any]
    shape: Any


@dataclass
class _Group:
    name: str
    windows: list[Window]
    kind: str  # "object" or "background"
    labels: list[_Labelled]
    analyses: list[str]
    signature: str = ""


@dataclass
class _ScenePlan:
    """What is cut from one scene: its groups and the polygons of every review on it."""

    date: str  # the scene's date in the analysis being cut ("post" or "pre")
    path: Path
    uid: str
    groups: list[_Group]
    labels: list[_Labelled]
    transform: Any
    crs: Any
    unreviewed: Optional[np.ndarray]  # 'after' detections no review covers
    frozen: list[Window]  # patches of analyses whose reviews can no longer be read: kept as they are
    meta: dict[str, Any]


def _signature(windows: list[Window], labels: list[_Labelled], kind: str) -> str:
    key = {"kind": kind, "windows": [[int(w.row_off), int(w.col_off)] for w in windows],
           "reviews": sorted([x.review.review_id, x.review.verdict] for x in labels), "patch_px": PATCH_PX}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _detections_post(result) -> np.ndarray:
    """The 'after' landslide mask at the analysis's own threshold (uint8, 1 = landslide)."""
    from ..result_views import default_threshold, rethreshold

    return rethreshold(result, default_threshold(result)).post_mask


def _scene_reviews(result, date: str, uid: str, reviews: list[Review], registry: dict[str, Any],
                   analyses: dict[str, Any], crs) -> tuple[list[_Labelled], set[str]]:
    """The reviews in force on one scene: this analysis's, and those of other analyses of the
    same scene already in the dataset (a later review of an object supersedes an earlier one);
    and the analyses whose reviews could not be read (their patches stay as they are)."""
    from ..results import load_result

    sources: list[tuple[Any, str, list[Review]]] = [(result, date, reviews)]
    frozen: set[str] = set()
    for key, other_date in sorted((registry.get("analyses") or {}).items()):
        if key == result.key:
            continue
        try:
            other = load_result((analyses.get(key) or {}).get("folder") or "")
            revs = [r for r in ReviewStore.of(other).active() if r.date == other_date]
        except InputError:
            frozen.add(key)
            continue
        sources.append((other, other_date, revs))
    pool: list[_Labelled] = []
    for res, d, revs in sources:
        shift = _pre_shift_m(res) if d == "pre" else (0.0, 0.0)
        for r, f in zip(revs, _in_scene_crs(revs, crs, shift)):
            pool.append(_Labelled(r, res.key, f, None))
    pool.sort(key=lambda x: (x.review.when, x.review.review_id))
    in_force = {id(r) for r in active_reviews([x.review for x in pool])}
    from shapely.geometry import shape

    out = [x for x in pool if id(x.review) in in_force]
    for x in out:
        x.shape = shape(x.feature["geometry"])
    return out, frozen


def _background_windows(reader, result, taken: list[Window], unreviewed: np.ndarray, positives: np.ndarray,
                        wanted: int, uid: str, cancel: Optional[CancelToken]) -> list[Window]:
    """Up to ``wanted`` reviewed-clean tiles of the 'after' scene (see the module docstring):
    no detection left unreviewed, no landslide, inside the area, mostly cloud-free."""
    from rasterio.warp import transform_geom
    from shapely.geometry import shape

    if wanted <= 0:
        return []
    aoi = (result.request or {}).get("aoi")
    area = shape(transform_geom("EPSG:4326", reader.crs, aoi)) if aoi else None
    if area is not None and not area.is_valid:
        area = area.buffer(0)

    def draw(w: Window) -> str:  # a fixed order spread over the scene
        return hashlib.sha256(f"{uid}:{int(w.row_off)}:{int(w.col_off)}".encode()).hexdigest()

    chosen: list[Window] = []
    for w in sorted(scene_tiles(reader.height, reader.width, PATCH_PX), key=draw):
        if len(chosen) >= wanted:
            break
        check_cancel(cancel)
        if any(_overlaps(w, o) for o in taken + chosen):
            continue
        r0, c0 = int(w.row_off), int(w.col_off)
        sl = (slice(r0, r0 + PATCH_PX), slice(c0, c0 + PATCH_PX))
        if unreviewed[sl].any() or positives[sl].any():
            continue
        if area is not None and not area.contains(_window_box(w, reader.transform)):
            continue
        _stack, valid = reader.read(w)
        if valid.mean() < MIN_BACKGROUND_VALID_SHARE:
            continue
        chosen.append(w)
    return chosen


def _plan_scene(result, date: str, reviews: list[Review], reader, path: Path, uid: str, exporter: PatchExporter,
                background_per_object: float, cancel: Optional[CancelToken]) -> _ScenePlan:
    """The groups of one scene: the tiles the reviews in force touch (clustered where the grid's
    last row or column overlaps), then background tiles."""
    description = exporter.description
    registry = description.setdefault("scenes", {}).setdefault(uid, {})
    labels, frozen_keys = _scene_reviews(result, date, uid, reviews, registry, description.get("analyses") or {},
                                         reader.crs)
    frozen = [_window_of(r) for r in exporter.records if r.get("scene_uid") == uid
              and set(r.get("analyses") or [r.get("analysis")]) & frozen_keys]
    try:
        tiles = tiles_touching([x.feature for x in labels], reader.transform, reader.crs, reader.height, reader.width,
                               PATCH_PX, polygons_crs=reader.crs)
    except InputError:
        raise InputError(f"The {'after' if date == 'post' else 'before'} scene is {reader.width} x {reader.height} "
                         f"px, smaller than one {PATCH_PX} px chip.",
                         f"Chips need an analysis area at least {PATCH_PX * 10 / 1000:.2f} km across.") from None
    positives = [x.feature for x in labels if x.review.is_landslide]
    unreviewed, background = None, []
    if date == "post":
        full = (reader.height, reader.width)
        reviewed = polygon_mask([x.feature for x in labels], reader.transform, full, reader.crs, reader.crs) > 0
        landslide = polygon_mask(positives, reader.transform, full, reader.crs, reader.crs) > 0
        post_mask = _detections_post(result)
        if post_mask.shape == full:
            unreviewed = (post_mask == 1) & ~reviewed
            mine = sum(1 for t in tiles if any(x.analysis == result.key and x.shape.intersects(
                _window_box(t, reader.transform)) for x in labels))
            wanted = int(math.ceil(background_per_object * mine))
            background = _background_windows(reader, result, tiles + frozen, unreviewed, landslide, wanted, uid,
                                             cancel)
    groups = []
    for cluster in _clusters(tiles):
        boxes = [_window_box(w, reader.transform) for w in cluster]
        inside = [x for x in labels if any(x.shape.intersects(b) for b in boxes)]
        w0 = cluster[0]
        groups.append(_Group(f"{uid}-r{int(w0.row_off)}c{int(w0.col_off)}", cluster, "object", inside,
                             sorted({x.analysis for x in inside})))
    for w in background:
        groups.append(_Group(f"{uid}-r{int(w.row_off)}c{int(w.col_off)}", [w], "background", [], [result.key]))
    for g in groups:
        g.signature = _signature(g.windows, g.labels, g.kind)
    registry.setdefault("analyses", {})[result.key] = date
    prov = (result.provenance or {}).get(date) or {}
    ids = [s.get("scene_id") or s.get("id") for s in prov.get("scenes") or [] if isinstance(s, dict)]
    registry.update({"dates": prov.get("dates"), "source": (result.source or {}).get("name")})
    meta = {"source": CHIPS_SOURCE, "scene_uid": uid, "scene_dates": prov.get("dates"),
            "scene_ids": [i for i in ids if i] or prov.get("scene_ids") or [],
            "source_name": (result.source or {}).get("name")}
    return _ScenePlan(date, path, uid, groups, labels, reader.transform, reader.crs, unreviewed, frozen, meta)


# ---------------------------------------------------------------- the chips

def make_chips(result_dir: str | Path, out_dir: str | Path, background_per_object: float = DEFAULT_BACKGROUND_PER_OBJECT,
               val_share: float = 0.2, seed: int = 0, progress: Optional[ProgressFn] = None,
               cancel: Optional[CancelToken] = None) -> ChipsReport:
    """Cut chips around the reviewed objects of the analysis in ``result_dir`` into ``out_dir``
    (see the module docstring); return what was done."""
    from ..fileio import ensure_writable_folder
    from ..patches.export import read_manifest
    from ..results import load_result

    if isinstance(background_per_object, bool) or not isinstance(background_per_object, (int, float)) \
            or not 0 <= background_per_object <= 10:
        raise InputError(f"The number of background patches per object patch is {background_per_object!r}.",
                         "Use a number from 0 to 10 (1 = as many background as object patches).")
    result = load_result(result_dir)
    reviews = ReviewStore.of(result).active()
    if not reviews:
        raise InputError(f"The analysis in {result.folder} has no reviews yet.",
                         "Confirm, reject or draw landslides on the Compare page first.")
    out = Path(out_dir).expanduser()
    folder = Path(result.folder).resolve()
    if out.resolve() == folder or folder in out.resolve().parents:
        raise InputError("The chips folder is inside the analysis folder.", "Give a folder of its own (--out).")
    report = ChipsReport(out, result.key, objects=len(reviews))
    ensure_writable_folder(out, "the chips folder (--out)")
    with exclusive_lock(out / ".chips.lock", cancel=cancel):
        exporter = PatchExporter(out, append=True, description={
            "what": "Reviewed detections: patches around confirmed, rejected and drawn objects of analyses, and "
                    "reviewed-clean background (python -m landslide_core chips)"})
        try:
            _cut(result, reviews, exporter, report, background_per_object, progress, cancel)
        except Cancelled:
            if exporter.records:  # what was written is recorded, never orphaned
                exporter.finish(val_share, seed)
            raise
        if report.changed or not (out / "manifest.json").is_file():
            manifest = exporter.finish(val_share, seed)
        else:
            manifest = read_manifest(out)
    recs = manifest.get("patches") or []
    report.total_patches = len(recs)
    report.train = sum(1 for r in recs if r.get("split") == "train")
    report.val = sum(1 for r in recs if r.get("split") == "val")
    return report


def _cut(result, reviews: list[Review], exporter: PatchExporter, report: ChipsReport, background_per_object: float,
         progress: Optional[ProgressFn], cancel: Optional[CancelToken]) -> None:
    from ..scene import SceneReader

    req = result.request or {}
    exporter.description.setdefault("analyses", {})[result.key] = {
        "folder": str(result.folder), "aoi": req.get("aoi"), "pre": req.get("pre"), "post": req.get("post"),
        "source": result.source, "model": (result.model or {}).get("name"),
        "model_sha256": (result.model or {}).get("weights_sha256"), "reviews": len(reviews)}
    with contextlib.ExitStack() as scenes:
        plans: list[_ScenePlan] = []
        for date in ("post", "pre"):
            mine = [r for r in reviews if r.date == date]
            if not mine:
                continue
            check_cancel(cancel)
            path = scenes.enter_context(analysis_scene(result, date, cancel, report.scene_fetched_again))
            with SceneReader(path) as reader:
                uid = scene_uid(reader, (result.source or {}).get("name", ""))
                plans.append(_plan_scene(result, date, mine, reader, path, uid, exporter, background_per_object,
                                         cancel))
        total, done = sum(len(p.groups) for p in plans), 0
        for plan in plans:
            existing = {r["group"]: r for r in exporter.records if r.get("scene_uid") == plan.uid}
            planned = set()
            for g in plan.groups:
                check_cancel(cancel)
                if progress:
                    progress(done, total, "chips")
                done += 1
                if any(_overlaps(w, f) for w in g.windows for f in plan.frozen) and g.name not in existing:
                    report.skipped.append(f"the {g.kind} patch at row {int(g.windows[0].row_off)}, column "
                                          f"{int(g.windows[0].col_off)} of the {plan.date} scene overlaps patches of an "
                                          "analysis whose reviews can no longer be read")
                    continue
                planned.add(g.name)
                n = len(g.windows)
                if g.kind == "background":
                    report.background += n
                if (existing.get(g.name) or {}).get("signature") == g.signature:
                    report.patches_unchanged += n
                    continue
                _write_group(exporter, plan, g, result.key)
                if g.name in existing:
                    report.patches_rewritten += n
                else:
                    report.patches_added += n
            frozen = {g for g, r in existing.items() if any(_overlaps(_window_of(r), f) for f in plan.frozen)}
            for name, rec in existing.items():
                stale = rec.get("kind") == "object" or rec.get("analysis") == result.key
                if name not in planned and name not in frozen and stale:
                    report.patches_removed += exporter.remove(name)
        if progress:
            progress(total, total, "chips")


def _write_group(exporter: PatchExporter, plan: _ScenePlan, g: _Group, analysis: str) -> None:
    positives = [x.feature for x in plan.labels if x.review.is_landslide]
    negatives = [x.feature for x in plan.labels if not x.review.is_landslide]
    records = exporter.add(plan.path, positives, g.name, windows=g.windows, polygons_crs=plan.crs,
                           negatives=negatives,
                           meta={**plan.meta, "analysis": analysis, "analyses": g.analyses, "date": plan.date,
                                 "kind": g.kind, "signature": g.signature})
    for rec, w in zip(records, g.windows):
        box = _window_box(w, plan.transform)
        rec["bounds_lonlat"] = _bounds_lonlat(w, plan.transform, plan.crs)
        rec["reviews"] = [{"review_id": x.review.review_id, "verdict": x.review.verdict, "kind": x.review.kind,
                           "who": x.review.who, "when": x.review.when, "analysis": x.analysis}
                          for x in g.labels if x.shape.intersects(box)]
        if plan.unreviewed is not None:
            r0, c0 = int(w.row_off), int(w.col_off)
            rec["unreviewed_px"] = int(plan.unreviewed[r0:r0 + PATCH_PX, c0:c0 + PATCH_PX].sum())


__all__ = ["make_chips", "ChipsReport", "analysis_scene", "fetch_scene_again", "scene_uid"]
