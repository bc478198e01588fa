"""Teaching the model a region: people review detections, the reviews become training chips.

- :mod:`.store`: the reviews of an analysis (``reviews.geojson`` beside its result): confirm,
  reject, draw a missed landslide, undo; safe with several sessions writing.
- :mod:`.candidates`: what can be reviewed at a threshold (new, persisting, before only) and
  which review each object carries.
- :mod:`.chips`: Landslide4Sense-layout patches cut from the analysis's own scenes around the
  reviewed objects (``python -m landslide_core chips``), growing one dataset across analyses.
- :mod:`.finetune`: a fine-tuning run from an existing model on the reviewed chips, with a mix
  of generated patches, validated on the chips' held-out share; and every model's scores on
  that held-out share, side by side.
"""
from .store import KINDS, REVIEWS_FILE, VERDICTS, Review, ReviewStore, active_reviews, check_drawn

__all__ = ["Review", "ReviewStore", "REVIEWS_FILE", "VERDICTS", "KINDS", "active_reviews", "check_drawn"]
