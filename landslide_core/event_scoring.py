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
