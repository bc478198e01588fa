"""Fine-tuning on reviewed objects: F1 of the parent and of the model fine-tuned on 20, 50 and 100.

    .venv/bin/python bench/review_finetune.py [--objects 20 50 100] [--parent default]
                                              [--train-areas 4] [--test-areas 2] [--epochs 6] [--seed 0]

What is measured (all in this one run):

- The region: demo-source areas of about 3.5 km x 3.5 km around the demo event (each area its
  own synthetic world: terrain, land cover with its deliberate confounders (ploughed and
  harvested fields, clear-cuts, gravel riverbeds, roads, villages, bare rock), clouds, a
  landslide event). ``--train-areas`` areas are reviewed for training; ``--test-areas`` more
  areas, north of them, are the test areas and are never trained on.
- The parent model (``--parent``, the default model unless told otherwise) analyses every area
  (``analysis.run_analysis``, its own threshold). A simulated careful reviewer then goes over
  each area with the truth of the generator (scars visible after the event: new landslides and
  old scars, the Landslide4Sense convention): every detection on the after scene is confirmed
  when at least 30 % of it is truth, else rejected (an explicit negative: mostly confounders);
  every truth scar of at least ``--min-drawn-px`` pixels that no detection touches is drawn
  (a missed landslide). Reviews go through :class:`landslide_core.review.ReviewStore` exactly as
  the Compare page saves them.
- The reviewer goes over the training areas one after the other, each from north to south
  (``--order spatial``; ``random``: the reviews of all areas shuffled once with ``--seed``); the
  first N reviews (N in ``--objects``, nested: the 20 are among the 50) are applied, chips are cut from them
  (:func:`landslide_core.review.chips.make_chips`, all training areas into one chips folder)
  and the parent is fine-tuned on them (:func:`landslide_core.review.finetune.start_finetune`:
  the chips' held-out share validates, a generated mix of confounder patches is added) in this
  process.
- The test areas are reviewed in full and their chips (around every reviewed object, plus
  background) are the test set: F1, precision and recall of every model on all its pixels
  (:func:`~landslide_core.review.finetune.held_out_scores` with ``held_out_only=False``), each
  model at its own threshold.

Scores are of 128 px chips around reviewed objects (as the Models page shows; a 3.5 km area is
about 9 chips, so they cover most of it). Last line: JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

TRUTH_SHARE = 0.3      # a detection is a landslide when this share of it is truth
HALF_SIDE_DEG = 0.016  # half the side of an area (about 3.5 km)
STEP_DEG = 0.04        # areas sit this far apart (east-west, then north-south)


def _box(cx: float, cy: float) -> dict:
    h = HALF_SIDE_DEG
    return {"type": "Polygon", "coordinates": [[[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h],
                                                [cx - h, cy + h], [cx - h, cy - h]]]}


def _areas(n_train: int, n_test: int) -> list[dict]:
    """n_train training areas, then n_test test areas, on a grid around the demo event."""
    from shapely.geometry import shape

    from landslide_core.synthetic import DEMO_EVENT

    c = shape(DEMO_EVENT.aoi).centroid
    spots = [(c.x + STEP_DEG * (i % 3 - 1), c.y + STEP_DEG * (i // 3)) for i in range(n_train + n_test)]
    return [_box(x, y) for x, y in spots]


def _reviewer_actions(result, source, request, min_drawn_px: int) -> list[tuple]:
    """What a careful reviewer does in one analysis: ("review", candidate, verdict) for each
    detection on the after scene, ("draw", geometry) for each missed truth scar."""
    from rasterio.features import rasterize, shapes
    from rasterio.warp import transform_geom
    from scipy import ndimage
    from shapely.geometry import mapping, shape

    from landslide_core.result_views import default_threshold, grid_of
    from landslide_core.review.candidates import review_candidates

    event = source.event(request)
    truth = np.asarray(event.new_landslides | event.old_scars, bool)
    transform, crs = grid_of(result)
    actions, touched = [], np.zeros_like(truth)
    for f in review_candidates(result, default_threshold(result)):
        if f["properties"]["date"] != "post":
            continue
        m = rasterize([(transform_geom("EPSG:4326", crs, f["geometry"]), 1)], out_shape=truth.shape,
                      transform=transform) > 0
        if not m.any():
            continue
        touched |= m
        actions.append(("review", f, "confirmed" if (truth & m).sum() > TRUTH_SHARE * m.sum() else "rejected"))
    labels, n = ndimage.label(truth)
    aoi = shape(request.aoi)
    for i in range(1, n + 1):
        comp = labels == i
        if comp.sum() < min_drawn_px or (comp & touched).any():
            continue
        polys = [shape(transform_geom(crs, "EPSG:4326", g)) for g, v in
                 shapes(comp.astype(np.uint8), mask=comp, transform=transform) if v == 1]
        if not polys:
            continue
        poly = max(polys, key=lambda p: p.area)
        outline = type(poly)(poly.exterior).simplify(4e-5).buffer(0).intersection(aoi.buffer(-1e-6))
        if outline.geom_type == "MultiPolygon":
            outline = max(outline.geoms, key=lambda p: p.area)
        if outline.is_empty or outline.geom_type != "Polygon":
            continue
        actions.append(("draw", mapping(outline)))
    return actions


def _north(action: tuple) -> float:
    """The latitude of a review's object (its centroid)."""
    from shapely.geometry import shape

    return shape(action[1]["geometry"] if action[0] == "review" else action[1]).centroid.y


def _apply(store, actions: list[tuple]) -> int:
    from landslide_core.errors import InputError

    for r in store.all():
        store.undo(r.review_id, "bench")
    done = 0
    for a in actions:
        try:
            if a[0] == "review":
                store.review(a[1], a[2], "bench")
            else:
                store.draw(a[1], "bench")
            done += 1
        except InputError:
            pass  # a drawn outline the store refuses (e.g. too small once simplified) is not drawn
    return done


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, nargs="+", default=[20, 50, 100])
    p.add_argument("--parent", default="default", help="the model to fine-tune (a name or a card path)")
    p.add_argument("--train-areas", type=int, default=4)
    p.add_argument("--test-areas", type=int, default=2)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--mix", type=float, default=0.5, help="generated patches per training chip")
    p.add_argument("--background", type=float, default=0.5, help="background chips per object chip")
    p.add_argument("--min-drawn-px", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--order", choices=("spatial", "random"), default="spatial",
                   help="which reviews come first: area by area, north to south (a chip around an object then "
                        "rarely holds unreviewed landslides, which chips count as background), or shuffled")
    p.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    args = p.parse_args(argv)

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-review-"))
    os.environ.setdefault("LANDSLIDE_CACHE_DIR", str(work / "cache"))
    os.environ["LANDSLIDE_RUNS_DIR"] = str(work / "runs")

    import torch

    from landslide_core import analysis
    from landslide_core.checkpoint import read_card, resolve_model_path
    from landslide_core.detection import DetectionOptions
    from landslide_core.review import ReviewStore
    from landslide_core.review.chips import make_chips
    from landslide_core.review.finetune import held_out_scores, start_finetune
    from landslide_core.sources import get_source
    from landslide_core.sources.request import AnalysisRequest, DateWindow
    from landslide_core.synthetic import DEMO_EVENT

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    t0 = time.time()
    parent = resolve_model_path(args.parent)
    card = read_card(parent)
    source = get_source("demo")
    pre, post = DateWindow.parse(*DEMO_EVENT.pre_window), DateWindow.parse(*DEMO_EVENT.post_window)
    areas = _areas(args.train_areas, args.test_areas)
    analyses = []
    for i, aoi in enumerate(areas):
        request = AnalysisRequest(aoi, pre, post)
        result = analysis.run_analysis(request, source, parent, DetectionOptions(threshold=float(card.threshold)),
                                       work / "results")
        actions = _reviewer_actions(result, source, request, args.min_drawn_px)
        analyses.append((result, actions))
        kinds = {k: sum(1 for a in actions if (a[2] if a[0] == "review" else "drawn") == k)
                 for k in ("confirmed", "rejected", "drawn")}
        print(f"area {i} ({'test' if i >= args.train_areas else 'train'}): {kinds}", flush=True)
    t_analyses = time.time() - t0

    # The test set: the test areas reviewed in full, their chips.
    test_chips = work / "chips-test"
    test_actions = [a for _, acts in analyses[args.train_areas:] for a in acts]
    for test_result, actions in analyses[args.train_areas:]:
        _apply(ReviewStore.of(test_result), actions)
        report = make_chips(test_result.folder, test_chips, background_per_object=1.0)
    print(f"test chips: {report.total_patches}", flush=True)

    pool = [(k, a) for k, (_, acts) in enumerate(analyses[:args.train_areas]) for a in acts]
    if args.order == "random":
        random.Random(args.seed).shuffle(pool)
    else:
        pool.sort(key=lambda ka: (ka[0], -_north(ka[1])))
    wanted = [n for n in sorted(set(args.objects)) if n <= len(pool)]
    if len(wanted) < len(set(args.objects)):
        print(f"only {len(pool)} reviewed objects in {args.train_areas} training areas: skipping "
              f"{sorted(set(args.objects) - set(wanted))} (use more --train-areas)", flush=True)
    models = {"parent": parent}
    rows = {}
    t_ft = {}
    for n in wanted:
        t1 = time.time()
        chosen = pool[:n]
        chips = work / f"chips-{n}"
        for k, (result, _) in enumerate(analyses[:args.train_areas]):
            mine = [a for kk, a in chosen if kk == k]
            if _apply(ReviewStore.of(result), mine):
                make_chips(result.folder, chips, background_per_object=args.background)
        summary = start_finetune(parent, chips, epochs=args.epochs, lr=args.lr, generated_per_chip=args.mix,
                                 batch_size=8, patience=args.epochs, device="cpu", seed=args.seed, foreground=True)
        if summary.state != "finished" or not summary.best_checkpoint:
            print(f"{n} objects: the fine-tuning run ended {summary.state}", flush=True)
            continue
        models[f"finetuned_{n}"] = summary.best_checkpoint
        verdicts = {v: sum(1 for _, a in chosen if (a[2] if a[0] == "review" else "drawn") == v)
                    for v in ("confirmed", "rejected", "drawn")}
        rows[n] = {"reviews": verdicts, "chips": json.loads((chips / "manifest.json").read_text())["split"]}
        t_ft[n] = time.time() - t1
        print(f"{n} objects {verdicts}: fine-tuned in {t_ft[n]:.0f} s", flush=True)

    scores = held_out_scores(test_chips, list(models.values()), held_out_only=False)
    print(f"\nparent: {card.name} ({card.architecture}); {args.test_areas} test areas: {report.total_patches} chips, "
          f"{sum(1 for a in test_actions if a[0] == 'review')} detections reviewed, "
          f"{sum(1 for a in test_actions if a[0] == 'draw')} missed scars drawn")
    print(f"{'model':<16}{'objects':>8}{'F1':>8}{'precision':>11}{'recall':>8}")
    out = {"order": args.order, "parent": card.name, "test_chips": report.total_patches, "epochs": args.epochs, "mix": args.mix,
           "train_areas": args.train_areas, "test_areas": args.test_areas}
    for (label, _), s in zip(models.items(), scores):
        if s.get("error"):
            print(f"{label:<16} cannot be scored: {s['error']}")
            continue
        n = label.split("_")[-1] if label != "parent" else "0"
        print(f"{label:<16}{n:>8}{s['f1']:>8.3f}{s['precision']:>11.3f}{s['recall']:>8.3f}")
        out[f"{label}_f1"] = round(s["f1"], 4)
        out[f"{label}_precision"] = round(s["precision"], 4)
        out[f"{label}_recall"] = round(s["recall"], 4)
    for n in rows:
        out[f"finetuned_{n}_minus_parent_f1"] = round(out.get(f"finetuned_{n}_f1", float("nan")) - out["parent_f1"], 4)
        out[f"finetuned_{n}_seconds"] = round(t_ft[n], 1)
    out["analyses_seconds"] = round(t_analyses, 1)
    out["total_seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
