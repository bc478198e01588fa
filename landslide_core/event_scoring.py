"""Scoring a model the way users get its answers: through detection, objects and rules.

- Whole generated events (``landslide_core.synthetic``): written as scene GeoTIFFs, run
  through the same ``detect_pair`` as users' scenes, and the change raster's "new" class is
  compared pixel by pixel with the event's ground truth of new landslides. Pixels not
  assessable in the result (cloud or shadow in either date) are left out of the counts, and
  reported as a share. The detected events are kept (:class:`DetectedEvent`) so that other
  thresholds can be scored from the saved probabilities and evidence, without the model.
- Landslide4Sense-layout patches, each taken as a small scene through the single-date
  detection (probability, hysteresis, minimum mapping unit, terrain and shape rules), against
  their masks: what ``detect --image`` would score on them.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
import rasterio

from .change import CHANGE_NEW as NEW, CHANGE_NOT_ASSESSABLE as NOT_ASSESSABLE
from .detection import DetectionOptions, detect_pair
from .grid import grid_centered
from .training.metrics import PixelCounts


@dataclass
class EventScore:
    """Pixel counts of the "new landslide" class on one or more events, and their scores."""

    counts: PixelCounts = field(default_factory=PixelCounts)
    not_assessable_share: float = 0.0
    events: int = 0

    def add(self, other: "EventScore") -> "EventScore":
        counts = PixelCounts()
        counts.add(self.counts)
        counts.add(other.counts)
        n = self.events + other.events
        share = (self.not_assessable_share * self.events + other.not_assessable_share * other.events) / max(n, 1)
        return EventScore(counts, share, n)

    def to_dict(self) -> dict:
        return {**asdict(self.counts), **self.counts.scores(), "not_assessable_share": self.not_assessable_share,
                "events": self.events}


def score_change(change: np.ndarray, truth_new: np.ndarray) -> EventScore:
    """Counts of the NEW class of ``change`` against the boolean truth, assessable pixels only."""
    assessable = change != NOT_ASSESSABLE
    pred = (change == NEW) & assessable
    truth = truth_new & assessable
    tp, fp, fn = int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum())
    return EventScore(PixelCounts(tp, fp, fn, int(assessable.sum()) - tp - fp - fn),
                      float(1.0 - assessable.mean()), 1)


def _mask_counts(pred: np.ndarray, truth: np.ndarray) -> PixelCounts:
    tp = int((pred & truth).sum())
    fp, fn = int((pred & ~truth).sum()), int((~pred & truth).sum())
    return PixelCounts(tp, fp, fn, int(pred.size) - tp - fp - fn)


# -- whole events -------------------------------------------------------------------------------
@dataclass
class DetectedEvent:
    """A generated event run through ``detect_pair``: its result folder and the truth."""

    folder: Path
    truth_new: np.ndarray
    summary: dict

    def score(self, threshold: Optional[float] = None, options: Optional[DetectionOptions] = None) -> EventScore:
        """The NEW-class score at ``threshold`` (None: as detected), from the saved rasters."""
        if threshold is None:
            with rasterio.open(self.folder / "change.tif") as ds:
                return score_change(ds.read(1), self.truth_new)
        from .change import summarise_pair
        from .evidence import EVIDENCE_FILE, read_evidence

        options = (options or DetectionOptions()).validate()
        with rasterio.open(self.folder / "pre" / "probability.tif") as ds:
            pre = ds.read(1)
        with rasterio.open(self.folder / "post" / "probability.tif") as ds:
            post, transform, crs = ds.read(1), ds.transform, ds.crs
        spectral, slope, elevation = read_evidence(self.folder / EVIDENCE_FILE)
        pair = summarise_pair(pre, post, slope, transform, crs, threshold, options.min_area_ha, elevation_m=elevation,
                              spectral=spectral, grow_ratio=options.grow_ratio, rules=options.rules,
                              settings=options.change)
        return score_change(pair.change, self.truth_new)


def detect_events(model_path: str | Path, seeds: Sequence[int], lon: float, lat: float, work_dir: str | Path,
                  size_px: int = 1024, options: Optional[DetectionOptions] = None, clouds: bool = True,
                  world_options=None, no_change: bool = False) -> list[DetectedEvent]:
    """Generate one event per seed at (lon, lat) into ``work_dir`` and detect it.

    ``world_options``: :class:`landslide_core.synthetic.WorldOptions` (the nuisances of real
    pairs); ``no_change``: events with no new landslide (every "new" one is a false alarm).
    """
    from .synthetic import generate_event, write_event

    out = []
    for seed in seeds:
        grid = grid_centered(lon, lat, size_px, size_px)
        event = generate_event(grid, seed=seed, clouds=clouds, options=world_options,
                               n_new_landslides=0 if no_change else None)
        paths = write_event(event, Path(work_dir) / f"event_{seed}")
        folder = Path(work_dir) / f"result_{seed}"
        summary = detect_pair(paths["pre"], paths["post"], folder, model_path=model_path, options=options)
        out.append(DetectedEvent(folder, event.new_landslides, summary))
    return out


def total_score(events: Iterable[DetectedEvent], threshold: Optional[float] = None,
                options: Optional[DetectionOptions] = None) -> EventScore:
    total = EventScore()
    for ev in events:
        total = total.add(ev.score(threshold, options))
    return total


def score_events(model_path: str | Path, seeds: Sequence[int], lon: float, lat: float, size_px: int = 1024,
                 options: Optional[DetectionOptions] = None, clouds: bool = True,
                 work_dir: Optional[str | Path] = None, world_options=None) -> EventScore:
    """Generate one event per seed at (lon, lat), detect it, and add up the NEW-class counts."""
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        events = detect_events(model_path, seeds, lon, lat, tmp, size_px, options, clouds, world_options)
        return total_score(events)


# -- patches ------------------------------------------------------------------------------------
@dataclass
class PatchProbabilities:
    """A model's probabilities on labelled patches, with what the object rules need."""

    prob: list[np.ndarray]
    slope_deg: list[np.ndarray]
    elevation_m: list[np.ndarray]
    truth: list[np.ndarray]

    def score(self, threshold: float, options: Optional[DetectionOptions] = None) -> PixelCounts:
        """Pixel counts of the single-date detection's mask at ``threshold`` against the masks."""
        from rasterio.transform import from_origin

        from .postprocess import LANDSLIDE, landslide_mask

        options = (options or DetectionOptions()).validate()
        transform = from_origin(400000.0, 8750000.0, 10.0, 10.0)
        counts = PixelCounts()
        for prob, slope, elevation, truth in zip(self.prob, self.slope_deg, self.elevation_m, self.truth):
            pred, _ = landslide_mask(prob, threshold, transform, options.min_area_ha, options.grow_ratio,
                                     options.rules, slope, elevation)
            counts.add(_mask_counts(pred == LANDSLIDE, truth))
        return counts


def patch_probabilities(model_path: str | Path, data_dir: str | Path,
                        options: Optional[DetectionOptions] = None) -> PatchProbabilities:
    """Run a model on every labelled patch of ``data_dir`` (Landslide4Sense layout)."""
    from .bands import ALL_BANDS, to_raw
    from .detection import load_model
    from .predictor import Predictor
    from .training.dataset import discover, load_patches
    from .training.evaluate import evaluation_pairs

    options = (options or DetectionOptions()).validate()
    model, card, _ = load_model(model_path)
    predictor = Predictor(model, card, options.predictor_config())
    pairs, _ = evaluation_pairs(discover(data_dir))
    patches = load_patches(data_dir, pairs, "l4s14")
    out = PatchProbabilities([], [], [], [])
    for img, mask in zip(patches.x, patches.y):
        raw = to_raw(img, ALL_BANDS)
        out.prob.append(predictor.predict_array(raw, np.isfinite(raw).all(axis=0)))
        out.slope_deg.append(raw[ALL_BANDS.index("slope")])
        out.elevation_m.append(raw[ALL_BANDS.index("elevation")])
        out.truth.append(np.asarray(mask) > 0)
    return out


def score_patches_detected(model_path: str | Path, data_dir: str | Path,
                           options: Optional[DetectionOptions] = None) -> PixelCounts:
    """Pixel counts of the landslide mask of ``detect --image`` on each patch against its mask."""
    from .checkpoint import read_card, resolve_model_path

    options = (options or DetectionOptions()).validate()
    threshold = options.threshold
    if threshold is None:
        threshold = read_card(resolve_model_path(model_path)).threshold
    return patch_probabilities(model_path, data_dir, options).score(threshold, options)


# -- the figures a model card carries -------------------------------------------------------------
#: Generated data for model cards and benches: held-out patches (seed 2; training uses seed 1),
#: threshold-choice events and patches (seeds 7001-7002, seed 5), test events at another place
#: (Ancash) with the nuisances of real pairs, and no-change events (no new landslide).
TEST_PATCH_SEED = 2
VALIDATION_PATCH_SEED = 5
VALIDATION_EVENT_SEEDS = (7001, 7002)
TEST_EVENT_SEEDS = (9001, 9002)
NO_CHANGE_EVENT_SEEDS = (9101, 9102)
VALIDATION_PLACE = (-75.9, -10.6)
TEST_PLACE = (-77.55, -9.35)


def choose_threshold(model_path: str | Path, work_dir: str | Path, patches: int = 200, event_size: int = 768,
                     thresholds: Sequence[float] = tuple(np.round(np.arange(0.25, 0.86, 0.05), 2)),
                     options: Optional[DetectionOptions] = None) -> tuple[float, list[dict]]:
    """The threshold that maximises the mean of the single-date patch F1 (through detection) and
    the whole-event new-landslide F1, on generated validation data (never the test data)."""
    from .synthetic import write_l4s_dataset

    work = Path(work_dir)
    data = write_l4s_dataset(work / "val_patches", patches, seed=VALIDATION_PATCH_SEED, landslide_share=0.02)
    probs = patch_probabilities(model_path, data, options)
    events = detect_events(model_path, VALIDATION_EVENT_SEEDS, *VALIDATION_PLACE, work / "val_events",
                           event_size, options)
    rows = []
    for t in thresholds:
        patch_f1 = probs.score(float(t), options).f1
        event_f1 = total_score(events, float(t), options).counts.f1
        rows.append({"threshold": float(t), "patch_f1": round(patch_f1, 4), "event_new_f1": round(event_f1, 4),
                     "mean_f1": round((patch_f1 + event_f1) / 2, 4)})
    best = max(rows, key=lambda r: r["mean_f1"])
    return best["threshold"], rows


def generated_scores(model_path: str | Path, work_dir: str | Path, test_patches: int = 300,
                     event_size: int = 1024, options: Optional[DetectionOptions] = None) -> dict:
    """Everything a card says about a model on generated data (see the constants above)."""
    from .synthetic import write_l4s_dataset
    from .training.evaluate import evaluate

    work = Path(work_dir)
    data = write_l4s_dataset(work / "test_patches", test_patches, seed=TEST_PATCH_SEED, landslide_share=0.02)
    pixel = evaluate(model_path, data)
    detected = score_patches_detected(model_path, data, options)
    events = total_score(detect_events(model_path, TEST_EVENT_SEEDS, *TEST_PLACE, work / "test_events",
                                       event_size, options))
    quiet = detect_events(model_path, NO_CHANGE_EVENT_SEEDS, *TEST_PLACE, work / "quiet_events", event_size,
                          options, no_change=True)
    post_ha = sum(e.summary["post"]["landslide_ha"] for e in quiet)
    new_ha = sum(e.summary["change"]["new_ha"] for e in quiet)
    return {
        "held_out_patches": {
            "data": f"{test_patches} generated patches, seed {TEST_PATCH_SEED}, 2% landslide pixels; "
                    "pixel threshold on the model's probability",
            "f1": pixel.f1, "precision": pixel.precision, "recall": pixel.recall, "iou": pixel.iou},
        "held_out_patches_detected": {
            "data": "the same patches through single-date detection (hysteresis, minimum mapping unit, "
                    "terrain and shape rules), as `detect --image` would give",
            **detected.scores()},
        "whole_events_new_landslides": {
            "data": f"{len(TEST_EVENT_SEEDS)} generated pre/post events of {event_size}x{event_size} px, seeds "
                    f"{list(TEST_EVENT_SEEDS)}, at {TEST_PLACE[0]} E {TEST_PLACE[1]} N (Ancash, another place), "
                    "with the nuisances of real pairs (misregistration, per-band gain and offset, haze and "
                    "cirrus, another sun, crops changing between the dates), clouds and confounders; pixels "
                    "under cloud in either date left out",
            **events.to_dict()},
        "no_change_events": {
            "data": f"{len(NO_CHANGE_EVENT_SEEDS)} generated pairs with no new landslide (seeds "
                    f"{list(NO_CHANGE_EVENT_SEEDS)}), the same nuisances: every new landslide is a false alarm",
            "new_ha": round(new_ha, 3), "post_landslide_ha": round(post_ha, 3),
            "new_share": round(new_ha / post_ha, 4) if post_ha else 0.0,
            "new_objects": int(sum(e.summary["change"]["new_count"] for e in quiet))},
    }
