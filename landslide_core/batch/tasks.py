"""The work of one tile or zone, as the Dask workers run it.

Every task takes the path of the job file and an id, reads and writes files under the batch
folder, and returns a small dict (what it did, how long, the worker's peak memory): no tile
data passes through the scheduler. Each task is idempotent: a finished tile (its marker
written last) is returned at once, and a task killed half-way leaves no marker and is simply
run again.

- :func:`prepare_region`: the source's one-off work for the region (the demo renders its world);
- :func:`fetch_tile`: the tile's scenes through :func:`landslide_core.sources.pair.fetch_pair`
  (first for the tiles holding the zone's co-registration samples, :func:`sample_tile_ids`);
- :func:`zone_shift_part`: the shifts of a part of the zone's co-registration sample windows
  (the windows one run over the zone would use), one part per worker; the client puts them
  together (:func:`finish_zone_shift`, as
  :func:`landslide_core.coregistration.estimate_shift_by_tiles` would);
- :func:`predict_tile`: the tile fetched if not yet, pre aligned, both dates predicted over the
  tile's share of the zone's windows (weighted sums, :class:`landslide_core.predictor.WindowPlan`),
  evidence of the core; the scenes are then removed (disk: a few tiles per worker);
- :func:`change_tile`: change decided per object (:func:`landslide_core.change.summarise_pair`)
  on a view around the core wide enough for whole objects (:mod:`.borders`); the core's
  change, probability and the new landslides it owns (those whose first pixel, in raster
  order, lies in the core: each object is written once).
Then :mod:`.merge` writes the outputs.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..sources.regrid import FAST_TIFF
from .layout import BatchLayout, read_json, write_json
from .worker import imagery_source, load_batch, loaded_model, model_card, task_result


def prepare_region(job_path: str) -> dict[str, Any]:
    """The source's one-off work for the whole region (e.g. the demo renders its world)."""
    t0 = time.perf_counter()
    _, job, _ = load_batch(job_path)
    source = imagery_source(job)
    prepare = getattr(source, "prepare", None)
    if prepare is not None:
        prepare(job.region_request())
    return task_result("prepare", "region", t0, prepare is None)


def fetch_tile(job_path: str, tile_id: str) -> dict[str, Any]:
    """The tile's 'before' and 'after' scenes on its fetch grid (``scenes/``)."""
    t0 = time.perf_counter()
    layout, job, plan = load_batch(job_path)
    info, reused = _fetch(layout, job, plan, plan.tile(tile_id))
    return task_result("fetch", tile_id, t0, reused, **info)


def _fetch(layout: BatchLayout, job, plan, tile) -> tuple[dict[str, Any], bool]:
    """Fetch a tile's scenes unless done (or already predicted); (what was fetched, reused)."""
    from ..sources.pair import fetch_pair

    zone = plan.zone(tile.zone)
    done = read_json(layout.marker(zone.id, tile.id, "fetch"))
    scenes = layout.scenes(zone.id, tile.id)
    if read_json(layout.marker(zone.id, tile.id, "predict")) is not None or (
            done is not None and (scenes / "pre.tif").exists() and (scenes / "post.tif").exists()):
        return done or {}, True
    t0 = time.perf_counter()
    record = fetch_pair(job.tile_request(zone, tile), imagery_source(job), scenes)
    info = {"dates": {r: record[r]["dates"] for r in ("pre", "post")},
            "aoi_cloud_pct": {r: record[r]["aoi_cloud_pct"] for r in ("pre", "post")},
            "requests": record["totals"]["requests"], "bytes_downloaded": record["totals"]["bytes_downloaded"],
            "seconds": round(time.perf_counter() - t0, 3)}
    write_json(layout.marker(zone.id, tile.id, "fetch"), info)
    return info, False


def sample_tile_ids(plan, zone_id: str) -> list[str]:
    """The tiles holding the zone's co-registration sample windows (fetched before the rest)."""
    from ..coregistration import sample_tiles
    from .tiling import PixelWindow

    zone = plan.zone(zone_id)
    size, corners = sample_tiles(zone.grid.height, zone.grid.width)
    windows = [PixelWindow(r, r + size, c, c + size) for r, c in corners]
    return [t.id for t in plan.tiles_of(zone_id) if any(not t.core.intersection(w).empty for w in windows)]


def zone_shift_part(job_path: str, zone_id: str, part: int, parts: int) -> dict[str, Any]:
    """The shifts measured on one part of the zone's co-registration sample windows (every
    ``parts``-th, from ``part``), read from the fetched tiles; :func:`finish_zone_shift` puts
    the parts together. The windows are those one run over the zone would use."""
    from rasterio.windows import Window

    from ..alignment import SHIFT_BAND
    from ..coregistration import measure_tile_shifts, sample_tiles
    from ..scene import SceneReader
    from .mosaic import covering_window
    from .tiling import PixelWindow

    t0 = time.perf_counter()
    layout, job, plan = load_batch(job_path)
    zone = plan.zone(zone_id)
    size, corners = sample_tiles(zone.grid.height, zone.grid.width)
    mine = corners[int(part)::int(parts)]
    windows = [PixelWindow(r, r + size, c, c + size) for r, c in mine]
    tiles = [plan.tile(t) for t in sample_tile_ids(plan, zone_id)
             if read_json(layout.marker(zone_id, t, "fetch")) is not None
             and (layout.scenes(zone_id, t) / "post.tif").exists()]
    # each tile's part of these windows, read once per date
    parts_read: dict[str, tuple[PixelWindow, dict[str, np.ndarray]]] = {}
    for t in tiles:
        hits = [h for h in (t.core.intersection(w) for w in windows) if not h.empty]
        if not hits:
            continue
        box = covering_window(hits)
        bands = {}
        for role in ("pre", "post"):
            with SceneReader(layout.scenes(zone_id, t.id) / f"{role}.tif") as reader:
                bands[role] = reader.read_bands((SHIFT_BAND,), Window(box.col0 - t.fetch.col0, box.row0 - t.fetch.row0,
                                                                      box.width, box.height))[0]
        parts_read[t.id] = (box, bands)

    def read_tile(r: int, c: int, size: int):
        win = PixelWindow(r, r + size, c, c + size)
        out = {"pre": np.full((size, size), np.nan, np.float32), "post": np.full((size, size), np.nan, np.float32)}
        for box, bands in parts_read.values():
            piece = box.intersection(win)
            if piece.empty:
                continue
            for role in ("pre", "post"):
                out[role][piece.slices_in(win)] = bands[role][piece.slices_in(box)]
        a, b = out["pre"], out["post"]
        return np.nan_to_num(a, nan=0.0), np.nan_to_num(b, nan=0.0), np.isfinite(a), np.isfinite(b)

    measured = measure_tile_shifts(read_tile, size, mine) if size else []
    return task_result("shift", f"{zone_id}#{part}", t0, False, zone=zone_id, measured=[list(m) for m in measured])


def shift_parts(plan, zone_id: str, workers: int) -> int:
    """Into how many tasks a zone's shift is cut: one per worker, at most one per sample window."""
    from ..coregistration import sample_tiles

    zone = plan.zone(zone_id)
    size, corners = sample_tiles(zone.grid.height, zone.grid.width)
    return max(1, min(int(workers), len(corners)))


def finish_zone_shift(layout: BatchLayout, plan, zone_id: str, parts: list[dict]) -> dict[str, Any]:
    """The zone's co-registration shift from its parts (:func:`zone_shift_part`), written to the
    zone's shift file; InputError for an implausible shift (the zone fails)."""
    from ..coregistration import combine_tile_shifts, decide, sample_tiles

    zone = plan.zone(zone_id)
    size, corners = sample_tiles(zone.grid.height, zone.grid.width)
    wanted = sample_tile_ids(plan, zone_id)
    missing = sorted(t for t in wanted if read_json(layout.marker(zone_id, t, "fetch")) is None
                     or not (layout.scenes(zone_id, t) / "post.tif").exists())
    if not size:
        from ..coregistration import ShiftEstimate

        estimate = ShiftEstimate(0.0, 0.0, 0, 0, 0.0, False, notes=["the image is too small to estimate a shift"])
    else:
        measured = [tuple(m) for p in parts for m in p.get("measured", [])]
        estimate = combine_tile_shifts(measured, len(corners))
    estimate = decide(estimate, zone.grid.pixel_size_m)
    record = {"coregister": True, **estimate.to_dict(), "sample_tiles_missing": missing}
    write_json(layout.shift(zone_id), record)
    return record


def predict_tile(job_path: str, tile_id: str) -> dict[str, Any]:
    """Both dates predicted over the tile's share of the zone's windows; evidence of its core."""
    from ..alignment import reproject_scene_to
    from ..change import SpectralPair
    from ..evidence import read_spectral_pair, read_terrain, write_evidence
    from ..scene import SceneReader

    t0 = time.perf_counter()
    layout, job, plan = load_batch(job_path)
    tile = plan.tile(tile_id)
    zone = plan.zone(tile.zone)
    marker = layout.marker(zone.id, tile.id, "predict")
    done = read_json(marker)
    if done is not None:
        return task_result("predict", tile_id, t0, True, **done)
    shift = read_json(layout.shift(zone.id))
    if shift is None:
        raise InputError(f"The co-registration of zone {zone.id} is missing, so tile {tile_id} cannot be aligned.",
                         "Rerun the batch: the zone's shift is estimated before its tiles are predicted.")
    fetched, fetch_reused = _fetch(layout, job, plan, tile)
    t_predict = time.perf_counter()
    scenes = layout.scenes(zone.id, tile.id)
    pre_path, post_path = scenes / "pre.tif", scenes / "post.tif"
    _, predictor = loaded_model(job)
    whole = predictor.window_plan(zone.grid.height, zone.grid.width)
    if (whole.rows, whole.wy, whole.cols, whole.wx) != (zone.rows, zone.wy, zone.cols, zone.wx):
        raise InputError("The predictor's windows differ from the batch plan's (another model or window size?).",
                         "Start the batch again in a new --out folder.")
    part = whole.part(tuple(tile.win_rows), tuple(tile.win_cols), tile.fetch.row0, tile.fetch.col0)
    tile_dir = layout.tile_dir(zone.id, tile.id)
    aligned = tile_dir / ".pre_coregistered.tif"
    try:
        used_pre = pre_path
        if shift.get("applied"):
            with SceneReader(post_path) as post:
                reproject_scene_to(pre_path, post, aligned, shift_px=(float(shift["rows_px"]), float(shift["cols_px"])))
            used_pre = aligned
        info = {}
        for which, scene in (("pre", used_pre), ("post", post_path)):
            with _unique(layout.accum(zone.id, tile.id, which)) as tmp:
                pred = predictor.predict_file(scene, tmp, stage=f"predict {which}", plan=part, accumulate=True,
                                              creation=FAST_TIFF)
            info[which] = {"valid_px": pred.valid_px, "windows_run": pred.windows_run, "seconds": round(pred.seconds, 3)}
        spectral = read_spectral_pair(used_pre, post_path)
        slope, elevation = read_terrain(post_path)
        sl = tile.core.slices_in(tile.fetch)
        core_spectral = SpectralPair(spectral.ndvi_pre[sl], spectral.ndvi_post[sl], spectral.visible_pre[sl],
                                     spectral.visible_post[sl])
        with _unique(layout.evidence(zone.id, tile.id)) as tmp:
            write_evidence(tmp, core_spectral, slope[sl], elevation[sl], tile.core.transform(zone.grid.transform),
                           zone.grid.crs, {"tile": tile_id, "zone": zone.id, "coregistration": shift},
                           creation=FAST_TIFF)
    finally:
        aligned.unlink(missing_ok=True)
        aligned.with_name(aligned.name + ".partial").unlink(missing_ok=True)
    info["predict_seconds"] = round(time.perf_counter() - t_predict, 3)
    write_json(marker, info)
    shutil.rmtree(scenes, ignore_errors=True)  # the scene cache keeps them; the tile needs them no more
    return task_result("predict", tile_id, t0, False, fetch=None if fetch_reused else fetched, **info)


def change_tile(job_path: str, tile_id: str, zone_state: str) -> dict[str, Any]:
    """Change of the tile's core, decided on a view wide enough for whole objects."""
    from ..change import CHANGE_NEW, CHANGE_VANISHED, SpectralPair, summarise_pair
    from .borders import context_px, objects_whole
    from .mosaic import ZoneReader

    t0 = time.perf_counter()
    layout, job, plan = load_batch(job_path)
    tile = plan.tile(tile_id)
    zone = plan.zone(tile.zone)
    marker = layout.marker(zone.id, tile.id, "change")
    done = read_json(marker)
    if done is not None and done.get("zone_state") == zone_state:
        return task_result("change", tile_id, t0, True, **done)
    card = model_card(job)
    options = job.detection_options()
    threshold = float(card.threshold if options.threshold is None else options.threshold)
    reader = ZoneReader(layout, plan, zone.id,
                        lambda t: read_json(layout.marker(t.zone, t.id, "predict")) is not None)
    context = context_px(options.rules, options.change, zone.grid.pixel_size_m)
    cap = plan.change_margin_cap_px(tile)
    margin = min(2 * context, cap)
    height, width = zone.grid.height, zone.grid.width
    while True:
        view = tile.core.expanded(margin, height, width)
        pre = reader.probability(view, "pre")
        post = reader.probability(view, "post")
        if objects_whole(pre, post, threshold, options.grow_ratio, view, tile.core, height, width, context,
                         options.change):
            break
        if margin >= cap:
            km = margin * zone.grid.pixel_size_m / 1000.0
            raise InputError(
                f"Landslide candidates in tile {tile_id} reach more than {km:.1f} km beyond its border, the most a "
                "tile looks around it, so they cannot be judged whole.",
                "Raise --threshold or --grow-ratio so that objects end sooner; near the region's edge, larger tiles "
                "(--tile-km) also widen the view.")
        margin = min(2 * margin, cap)
    ev = reader.evidence(view)
    transform = view.transform(zone.grid.transform)
    pair = summarise_pair(pre, post, ev["slope_deg"], transform, zone.grid.crs, threshold, options.min_area_ha,
                          elevation_m=ev["elevation_m"],
                          spectral=SpectralPair(ev["ndvi_pre"], ev["ndvi_post"], ev["visible_pre"], ev["visible_post"]),
                          grow_ratio=options.grow_ratio, rules=options.rules, settings=options.change)
    core = tile.core.slices_in(view)
    _write_core(layout.change(zone.id, tile.id), pair.change[core], tile.core, zone, "uint8", 255)
    _write_core(layout.probability_post(zone.id, tile.id), post[core], tile.core, zone, "float32", float("nan"))
    owned = _owned(pair, view, tile.core, transform, options.min_area_ha, CHANGE_NEW, CHANGE_VANISHED)
    write_json(layout.features(zone.id, tile.id), {"features": owned.pop("features")})
    record = {"zone_state": zone_state, "view_margin_px": margin, **owned,
              "class_px": np.bincount(pair.change[core].ravel(), minlength=256)[[0, 1, 2, 3, 255]].tolist()}
    write_json(marker, record)
    return task_result("change", tile_id, t0, False, **record)


def _owned(pair, view, core, transform, min_area_ha: float, new_class: int, vanished_class: int) -> dict[str, Any]:
    """What the tile owns: objects whose first pixel (raster order) lies in its core."""
    from ..postprocess import LANDSLIDE, _labels_at_least, label_components

    def first_pixels(labels: np.ndarray, n: int) -> np.ndarray:
        """(n, 2) zone (row, col) of each label's first pixel."""
        flat = labels.ravel()
        ids, first = np.unique(flat, return_index=True)
        out = np.zeros((n, 2), np.int64)
        keep = ids > 0
        rows, cols = np.divmod(first[keep], labels.shape[1])
        out[ids[keep] - 1] = np.stack([rows + view.row0, cols + view.col0], axis=1)
        return out

    def in_core(px: np.ndarray) -> np.ndarray:
        return ((px[:, 0] >= core.row0) & (px[:, 0] < core.row1) & (px[:, 1] >= core.col0) & (px[:, 1] < core.col1))

    def count_owned(binary: np.ndarray) -> int:
        labels, n = label_components(binary)
        return int(in_core(first_pixels(labels, n)).sum()) if n else 0

    labels, counts = _labels_at_least(pair.change == new_class, transform, min_area_ha)
    firsts = first_pixels(labels, len(counts))
    mine = in_core(firsts) if len(counts) else np.zeros(0, bool)
    features = []
    for f in pair.new_features:
        k = int(f["properties"]["id"]) - 1  # feature id = its label among the new pieces
        if mine[k]:
            px = firsts[k]
            features.append({**f, "properties": {**f["properties"], "_first_px": [int(px[0]), int(px[1])]}})
    oc = pair.object_change
    cand_labels, cand_n = oc.new_labels, int(oc.new_evidence.accepted.size)
    cand_owned = in_core(first_pixels(cand_labels, cand_n)) if cand_n else np.zeros(0, bool)
    fallback = 0
    for labels_, ev in ((oc.new_labels, oc.new_evidence), (oc.vanished_labels, oc.vanished_evidence)):
        n = int(ev.accepted.size)
        if n and ev.scene_reference is not None:
            fallback += int((in_core(first_pixels(labels_, n)) & ev.scene_reference).sum())
    return {"features": features, "new_count": len(features),
            "new_landslides_ha": round(sum(f["properties"]["area_ha"] for f in features), 6),
            "vanished_count": count_owned(pair.change == vanished_class),
            "pre_landslide_count": count_owned(pair.pre_mask == LANDSLIDE),
            "post_landslide_count": count_owned(pair.post_mask == LANDSLIDE),
            "new_candidates_without_evidence": int((cand_owned & ~oc.new_evidence.accepted).sum()) if cand_n else 0,
            "judged_against_view_median": fallback}


def _write_core(path: Path, array: np.ndarray, core, zone, dtype: str, nodata: float) -> None:
    import rasterio

    creation = {**FAST_TIFF, "predictor": 3 if dtype == "float32" else 2}
    with _unique(Path(path)) as tmp, rasterio.open(
            tmp, "w", driver="GTiff", width=core.width, height=core.height, count=1, dtype=dtype, crs=zone.grid.crs,
            transform=core.transform(zone.grid.transform), nodata=nodata, tiled=True, blockxsize=256, blockysize=256,
            **creation) as ds:
        ds.write(np.asarray(array).astype(dtype, copy=False), 1)


@contextlib.contextmanager
def _unique(path: Path):
    """A temporary name of this task's own beside ``path``, renamed onto it when the block
    succeeds: a task left running by a cancelled batch never writes into a rerun's file."""
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def zone_state(layout: BatchLayout, plan, zone_id: str) -> str:
    """What a zone's change depends on: the predicted tiles (their markers) and the shift."""
    from ..sources.request import stable_hash

    parts = {t.id: read_json(layout.marker(zone_id, t.id, "predict")) for t in plan.tiles_of(zone_id)}
    parts["shift"] = read_json(layout.shift(zone_id))
    return stable_hash(parts)[:16]


__all__ = ["change_tile", "fetch_tile", "predict_tile", "prepare_region", "sample_tile_ids", "zone_shift_part",
           "shift_parts", "finish_zone_shift", "zone_state"]
