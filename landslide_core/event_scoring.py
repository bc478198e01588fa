"""Scoring a model the way users get its answers: through detection, objects and rules.

- :func:`score_events`: a generated event (``landslide_core.synthetic``) is written as scene
  GeoTIFFs, run through the same ``detect_pair`` as users' scenes, and the change raster's
  "new" class is compared pixel by pixel with the event's ground truth of new landslides.
  Pixels not assessable in the result (cloud or shadow in either date) are left out of the
  counts, and reported as a share.
- :func:`score_patches_detected`: Landslide4Sense-layout patches, each taken as a small scene
  through the single-date detection (probability, hysteresis, minimum mapping unit, terrain
  and shape rules), against their masks: what ``detect --image`` would score on them.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

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


def score_patches_detected(model_path: str | Path, data_dir: str | Path,
                           options: Optional[DetectionOptions] = None) -> PixelCounts:
    """Pixel counts of the landslide mask of ``detect --image`` on each patch against its mask."""
    from rasterio.transform import from_origin

    from .bands import ALL_BANDS, to_raw
    from .detection import load_model
    from .postprocess import LANDSLIDE, landslide_mask
    from .predictor import Predictor
    from .training.dataset import discover, load_patches
    from .training.evaluate import evaluation_pairs

    options = (options or DetectionOptions()).validate()
    model, card, _ = load_model(model_path)
    predictor = Predictor(model, card, options.predictor_config())
    threshold = card.threshold if options.threshold is None else options.threshold
    transform = from_origin(400000.0, 8750000.0, 10.0, 10.0)
    counts = PixelCounts()
    pairs, _ = evaluation_pairs(discover(data_dir))
    patches = load_patches(data_dir, pairs, "l4s14")
    for img, mask in zip(patches.x, patches.y):
        raw = to_raw(img, ALL_BANDS)
        finite = np.isfinite(raw).all(axis=0)
        prob = predictor.predict_array(raw, finite)
        pred, _ = landslide_mask(prob, threshold, transform, options.min_area_ha, options.grow_ratio, options.rules,
                                 raw[ALL_BANDS.index("slope")], raw[ALL_BANDS.index("elevation")])
        p, t = pred == LANDSLIDE, np.asarray(mask) > 0
        tp = int((p & t).sum())
        fp, fn = int((p & ~t).sum()), int((~p & t).sum())
        counts.add(PixelCounts(tp, fp, fn, int(p.size) - tp - fp - fn))
    return counts


def score_events(model_path: str | Path, seeds: Sequence[int], lon: float, lat: float, size_px: int = 1024,
                 options: Optional[DetectionOptions] = None, clouds: bool = True,
                 work_dir: Optional[str | Path] = None) -> EventScore:
    """Generate one event per seed at (lon, lat), detect it, and add up the NEW-class counts."""
    from .synthetic import generate_event, write_event

    total = EventScore()
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        for seed in seeds:
            grid = grid_centered(lon, lat, size_px, size_px)
            event = generate_event(grid, seed=seed, clouds=clouds)
            paths = write_event(event, Path(tmp) / f"event_{seed}")
            out = Path(tmp) / f"result_{seed}"
            detect_pair(paths["pre"], paths["post"], out, model_path=model_path, options=options)
            with rasterio.open(out / "change.tif") as ds:
                change = ds.read(1)
            total = total.add(score_change(change, event.new_landslides))
    return total
