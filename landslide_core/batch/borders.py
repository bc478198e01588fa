"""Whether a tile saw whole objects: the check that makes per-tile change equal one whole run.

A tile decides change on a window around its core (its *view*). An object is a seeded
hysteresis component of one date (every connected pixel above the grow threshold, around a
pixel above the threshold); its fate depends on the whole of it and on what lies around it:

- the terrain rules look ``valley_radius_m`` around it;
- the other date's objects within the misregistration tolerance shape its change pieces;
- the change test compares it with a ring ``ring_px`` wide, where other objects of either
  date count as landslide ground (so their own fate matters, not what lies beyond them).

So the core's classes equal those of one run over the zone when the objects reaching the
core (of either date, joined when within the tolerance of each other), and the objects in
their rings, all keep :func:`context_px` pixels away from each side of the view that is not
the zone's own edge. :func:`objects_whole` checks exactly that; a tile whose view is too
small looks again with a wider one.

Not local, and so not covered: the NaN-filling of missing elevations (from the nearest known
elevation) and, for an object whose ring has fewer than 8 clear stable pixels, the scene-wide
median change used as its reference (here: the median of the tile's view). The summary counts
the objects judged by that fallback.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..change import ChangeSettings
from ..objects import ObjectRules
from .tiling import PixelWindow


def context_px(rules: ObjectRules, change: ChangeSettings, pixel_size_m: float) -> int:
    """How far (pixels) an object's fate looks around it: the valley radius or the ring."""
    valley = int(math.ceil(float(rules.valley_radius_m) / float(pixel_size_m))) + 2
    ring = int(change.ring_px) + int(change.tolerance_px) + 6
    return max(valley, ring)


def objects_whole(pre_prob: np.ndarray, post_prob: np.ndarray, threshold: float, grow_ratio: float,
                  view: PixelWindow, core: PixelWindow, zone_height: int, zone_width: int, context: int,
                  change: ChangeSettings) -> bool:
    """True when the objects reaching ``core``, and those in their rings, stay ``context``
    pixels clear of the sides of ``view`` that are not the zone's edge (both windows in zone
    pixels; the arrays are the view)."""
    from ..postprocess import LANDSLIDE, hysteresis_mask

    objects = np.zeros(np.shape(pre_prob), bool)
    for prob in (pre_prob, post_prob):
        objects |= hysteresis_mask(prob, threshold, grow_ratio) == LANDSLIDE
    if not objects.any():
        return True
    tolerance = int(change.tolerance_px) + 1
    joined = ndimage.binary_dilation(objects, structure=np.ones((3, 3), bool), iterations=tolerance)
    labels, _ = ndimage.label(joined, structure=np.ones((3, 3), bool))
    reaching = np.unique(labels[core.slices_in(view)])
    reaching = reaching[reaching > 0]
    if reaching.size == 0:
        return True
    ring = int(change.ring_px) + 4
    near = ndimage.binary_dilation(np.isin(labels, reaching), structure=np.ones((3, 3), bool), iterations=ring)
    judged = np.unique(labels[near & objects])
    judged = judged[judged > 0]
    band = np.zeros(objects.shape, bool)
    c = int(context)
    if view.row0 > 0:
        band[:c, :] = True
    if view.row1 < zone_height:
        band[-c:, :] = True
    if view.col0 > 0:
        band[:, :c] = True
    if view.col1 < zone_width:
        band[:, -c:] = True
    return not np.isin(np.unique(labels[band & objects]), judged).any()


__all__ = ["context_px", "objects_whole"]
