"""What can be reviewed in an analysis at a threshold, and which review each object carries.

The detections of a pair at one threshold (re-thresholded from the saved probabilities, no
model run), as GeoJSON features (EPSG:4326) with ``object_id``, ``kind`` and ``date``:

- "new" (``N<k>``): new landslides (the change class new, with the evidence that kept them);
- "persisting" (``P<k>``): landslides on both dates (the change class persisting);
- "before only" (``B<k>``): landslides of the 'before' date that the 'after' date no longer
  shows (the change class vanished); reviewed on the 'before' scene.

Together they cover every object detected on either date. Reviews are matched to objects by
geometry (:func:`landslide_core.review.store.same_object`), so a review made at one threshold
stays on its object when the threshold moves and the outline changes a little.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .store import Review, overlap_share

#: kind -> (change class, date whose scene shows it, object id prefix)
KIND_OF_CHANGE = {"new": (1, "post", "N"), "persisting": (2, "post", "P"), "before only": (3, "pre", "B")}
#: Columns of the review table, in order.
TABLE_COLUMNS = ("object_id", "kind", "review", "area_ha", "slope_deg_mean", "probability_mean", "reviewed_by",
                 "why")


def review_candidates(result, threshold: float, min_area_ha: Optional[float] = None) -> list[dict[str, Any]]:
    """The reviewable objects of ``result`` (an AnalysisResult) at ``threshold`` (see the module doc)."""
    from ..change import CHANGE_PERSISTING, CHANGE_VANISHED
    from ..result_views import class_outlines, default_min_area_ha, rethreshold

    if min_area_ha is None:
        min_area_ha = default_min_area_ha(result)
    pair = rethreshold(result, threshold, min_area_ha)
    outlines = class_outlines(result, threshold, min_area_ha)
    out: list[dict[str, Any]] = []

    def add(features: Sequence[dict[str, Any]], kind: str) -> None:
        _, date, prefix = KIND_OF_CHANGE[kind]
        for f in features:
            props = f["properties"]
            props.update({"object_id": f"{prefix}{props['id']}", "kind": kind, "date": date})
            out.append(f)

    add(pair.new_features, "new")
    add(outlines[CHANGE_PERSISTING], "persisting")
    add(outlines[CHANGE_VANISHED], "before only")
    return out


def review_of(candidate: dict[str, Any], reviews: Sequence[Review], _tree=None) -> Optional[Review]:
    """The review in force on a candidate (the latest of the same object), else None."""
    from .store import SAME_OBJECT_OVERLAP, valid_shape

    props = candidate["properties"]
    shape = valid_shape(candidate["geometry"])
    near = sorted(_tree.query(shape)) if _tree is not None else range(len(reviews))
    for i in reversed(list(near)):
        r = reviews[i]
        if r.date == props["date"] and overlap_share(r.shape, shape) >= SAME_OBJECT_OVERLAP:
            return r
    return None


def review_table(candidates: Sequence[dict[str, Any]], reviews: Sequence[Review]) -> list[dict[str, Any]]:
    """One row per candidate (with its review in force) and one per drawn landslide."""
    from shapely import STRtree

    reviews = list(reviews)
    tree = STRtree([r.shape for r in reviews]) if reviews else None
    rows = []
    for c in candidates:
        p = c["properties"]
        r = review_of(c, reviews, tree)
        rows.append({"object_id": p["object_id"], "kind": p["kind"], "review": r.verdict if r else "",
                     "area_ha": p.get("area_ha"), "slope_deg_mean": p.get("slope_deg_mean"),
                     "probability_mean": p.get("probability_mean"), "reviewed_by": r.who if r else "",
                     "why": r.why if r else "", "review_id": r.review_id if r else None})
    for r in reviews:
        if r.verdict == "drawn":
            rows.append({"object_id": f"D-{r.review_id[:6]}", "kind": "drawn", "review": "drawn",
                         "area_ha": r.area_ha, "slope_deg_mean": None, "probability_mean": None,
                         "reviewed_by": r.who, "why": r.why, "review_id": r.review_id})
    return rows


__all__ = ["review_candidates", "review_of", "review_table", "KIND_OF_CHANGE", "TABLE_COLUMNS"]
