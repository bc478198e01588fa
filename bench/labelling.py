"""Labelling 20 demo ROIs with a model's suggestion vs from scratch, counted in tool actions.

    .venv/bin/python bench/labelling.py [--rois 20] [--models index default] [--seed 0]

What is measured (all in this one run, on the same ROIs):

- The ROIs: ``--rois`` ROIs of 1500 m sampled over a 0.1 degree box around the demo area, fetched
  from the demo source through the dataset builder (``landslide_core.datasets``). The truth of
  each ROI is the demo generator's own: every landslide scar visible on the post-event scene (new
  landslides and old scars, on valid pixels: the Landslide4Sense convention), inside the 128 px
  patch that the export cuts.
- A simulated careful labeller, who must end with the truth on every ROI, using the page's tools
  at these costs (one action = one click, one key press or one stroke):
  * draw a polygon: 1 (pick the polygon tool) + one click per corner of the truth outline
    simplified at 10 m (one pixel) + 1 (the closing click); a hole is cut the same way in the
    "erase" mode, +2 for switching the mode there and back;
  * delete suggested polygons: 1 (bin tool) + 1 per polygon + 1 (Save), once per ROI;
  * accept the ROI: 1 (key A).
  From scratch: draw every truth polygon, accept. With a suggestion: a suggested polygon that
  matches a truth polygon with IoU >= 0.5 is kept as it is; the other suggested polygons are
  deleted, the truth polygons left without a match are drawn, accept.
- The label each workflow ends with is scored against the truth (pixel IoU over all ROIs), so
  the saving is not bought with a worse label; and the machine time of the suggestions (the
  detection per ROI, measured) is reported beside it.

It does not measure a person's seconds: clicks are the proxy the issue asks for. Last line: JSON.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


from landslide_core.datasets import DatasetSpec, DatasetStore, sample_rois  # noqa: E402
from landslide_core.datasets.imagery import fetch_rois  # noqa: E402
from landslide_core.datasets.suggest import suggest  # noqa: E402
from landslide_core.detection import load_model  # noqa: E402
from landslide_core.patches import patch_windows, polygon_mask  # noqa: E402
from landslide_core.sources import get_source  # noqa: E402
from landslide_core.sources.cache import SceneCache  # noqa: E402
from landslide_core.synthetic import DEMO_EVENT  # noqa: E402

MATCH_IOU = 0.5
SIMPLIFY_M = 10.0


def truth_mask(source, store: DatasetStore, roi) -> np.ndarray:
    """The generator's truth on the ROI's grid: scars visible on the post scene (uint8 0/1)."""
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    request = store.spec.request_for(roi)
    event = source.event(request)
    scars = ((event.new_landslides | event.old_scars) & event.post.valid).astype(np.uint8)
    grid = roi.grid()
    out = np.zeros((grid.height, grid.width), np.uint8)
    reproject(scars, out, src_transform=event.post.transform, src_crs=event.post.crs, dst_transform=grid.transform,
              dst_crs=grid.crs, resampling=Resampling.nearest)
    return out


def patch_slices(roi):
    w = patch_windows(roi.size_px, roi.size_px)[0]
    r0, c0 = int(w.row_off), int(w.col_off)
    return slice(r0, r0 + 128), slice(c0, c0 + 128)


def polygons_of(mask: np.ndarray, transform):
    """The connected parts of a 0/1 mask as shapely polygons (grid CRS, metres)."""
    from rasterio.features import shapes
    from shapely.geometry import shape

    return [shape(g) for g, v in shapes(mask.astype(np.uint8), mask=mask > 0, connectivity=4, transform=transform)
            if v == 1]


def draw_cost(poly) -> int:
    """Clicks to draw ``poly``: per ring, pick the tool, click the corners (outline simplified at
    one pixel), close; a hole also needs the erase mode on and off."""
    s = poly.simplify(SIMPLIFY_M, preserve_topology=True)
    cost = 1 + (len(s.exterior.coords) - 1) + 1
    for hole in s.interiors:
        cost += 2 + 1 + (len(hole.coords) - 1) + 1
    return cost


def iou(a, b) -> float:
    inter = a.intersection(b).area
    union = a.union(b).area
    return inter / union if union > 0 else 0.0


def workflow_costs(truth_polys, suggested_polys):
    """(actions from scratch, actions with the suggestion, final label polygons with the suggestion)."""
    scratch = sum(draw_cost(t) for t in truth_polys) + 1
    used: set[int] = set()
    kept, missed = [], []
    for t in truth_polys:
        best, best_iou = None, 0.0
        for k, s in enumerate(suggested_polys):
            if k in used:
                continue
            v = iou(t, s)
            if v > best_iou:
                best, best_iou = k, v
        if best is not None and best_iou >= MATCH_IOU:
            used.add(best)
            kept.append(suggested_polys[best])
        else:
            missed.append(t)
    wrong = [s for k, s in enumerate(suggested_polys) if k not in used]
    with_suggestion = (2 + len(wrong) if wrong else 0) + sum(draw_cost(t) for t in missed) + 1
    final = kept + [t.simplify(SIMPLIFY_M, preserve_topology=True) for t in missed]
    return scratch, with_suggestion, final


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rois", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=["index", "default"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-labelling-"))
    source = get_source("demo", cache=SceneCache(work / "cache"))
    spec = DatasetSpec("bench", window=tuple(DEMO_EVENT.post_window))
    store = DatasetStore.create(work / "ds", spec)
    west, south, east, north = -75.45, -11.35, -75.35, -11.25
    area = {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                [west, south]]]}
    store.add_rois(sample_rois(area, args.rois, seed=args.seed))
    t0 = time.perf_counter()
    fetch_rois(store, source=source)
    fetch_s = time.perf_counter() - t0
    rois = store.rois()
    truths = {}
    for roi in rois:
        rs, cs = patch_slices(roi)
        m = np.zeros((roi.size_px, roi.size_px), np.uint8)
        m[rs, cs] = truth_mask(source, store, roi)[rs, cs]
        truths[roi.id] = (m, polygons_of(m, roi.grid().transform))
    scratch_total = sum(sum(draw_cost(t) for t in polys) + 1 for _, polys in truths.values())
    truth_polygons = sum(len(p) for _, p in truths.values())
    print(f"{len(rois)} demo ROIs of 1500 m (fetched in {fetch_s:.1f} s), {truth_polygons} truth polygons in their "
          "exported 128 px patches")
    print(f"{'workflow':<34}{'actions':>9}{'per ROI':>9}{'label IoU':>11}{'machine s/ROI':>15}")
    drawn = {r.id: [t.simplify(SIMPLIFY_M, preserve_topology=True) for t in truths[r.id][1]] for r in rois}
    scratch_iou = _label_iou(rois, truths, drawn)
    print(f"{'from scratch (polygon tool)':<34}{scratch_total:>9}{scratch_total / len(rois):>9.1f}"
          f"{scratch_iou:>11.3f}{0.0:>15.2f}")
    results = {"rois": len(rois), "truth_polygons": truth_polygons, "from_scratch_actions": scratch_total,
               "from_scratch_label_iou": round(scratch_iou, 4), "fetch_s": round(fetch_s, 2)}
    for model in args.models:
        try:
            loaded = load_model(model)
        except Exception as exc:  # noqa: BLE001 - a missing model is reported, the others go on
            print(f"{'suggestions: ' + model:<34} not available ({exc})")
            continue
        total, finals, seconds = 0, {}, 0.0
        for roi in rois:
            t = time.perf_counter()
            feats = suggest(store, roi.id, model, loaded)
            seconds += time.perf_counter() - t
            g = roi.grid()
            rs, cs = patch_slices(roi)
            sm = polygon_mask(feats, g.transform, (g.height, g.width), g.crs)
            clipped = np.zeros_like(sm)
            clipped[rs, cs] = sm[rs, cs]
            _, with_s, final = workflow_costs(truths[roi.id][1], polygons_of(clipped, g.transform))
            total += with_s
            finals[roi.id] = final
        label_iou = _label_iou(rois, truths, finals)
        print(f"{'suggestions: ' + model:<34}{total:>9}{total / len(rois):>9.1f}{label_iou:>11.3f}"
              f"{seconds / len(rois):>15.2f}")
        results[f"{model}_actions"] = total
        results[f"{model}_label_iou"] = round(label_iou, 4)
        results[f"{model}_suggest_s_per_roi"] = round(seconds / len(rois), 3)
        results[f"scratch_over_{model}"] = round(scratch_total / max(total, 1), 2)
    for model in args.models:
        if f"{model}_actions" in results:
            print(f"from scratch / with {model}'s suggestions: {results[f'scratch_over_{model}']:.2f}x the actions")
    print(json.dumps(results))
    return 0


def _label_iou(rois, truths, finals) -> float:
    """Pixel IoU of the final labels against the truth, over all ROIs' patches."""
    inter = union = 0
    for roi in rois:
        g = roi.grid()
        feats = [{"type": "Feature", "geometry": p.__geo_interface__} for p in finals.get(roi.id, [])]
        m = polygon_mask(feats, g.transform, (g.height, g.width), g.crs, polygons_crs=g.crs)
        t = truths[roi.id][0] > 0
        inter += int((m.astype(bool) & t).sum())
        union += int((m.astype(bool) | t).sum())
    return inter / union if union else 1.0


if __name__ == "__main__":
    raise SystemExit(main())
