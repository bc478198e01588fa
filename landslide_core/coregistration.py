"""Co-registration of two dates: the sub-pixel shift between them, estimated from the images.

Sentinel-2 L1C dates of one place are misaligned by up to a pixel or two. Comparing them pixel
by pixel turns every edge into "new" and "vanished" ground, so the pair is aligned first.

The shift is estimated by sub-pixel phase correlation (scikit-image's
``phase_cross_correlation``) of the gradient magnitude of the near-infrared band, which keeps
the edges (ridges, rivers, field borders) and ignores a different haze, gain or season. The
scene is cut into tiles; each tile with enough clear pixels gives one estimate and the median
is taken, so a cloud or a landslide (a real change) does not pull it. The spread of the tile
estimates tells how reliable it is.

Convention: ``shift_px = (rows, cols)`` is where the content of the post image lies in the pre
image: a feature at post pixel (r, c) is at pre pixel (r + rows, c + cols). Resampling the pre
image at (r + rows, c + cols) aligns it to the post image.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

import numpy as np
from scipy import ndimage

from .errors import InputError

#: Below this (pixels) the shift is not worth a resampling.
NEGLIGIBLE_SHIFT_PX = 0.15
#: Above this the pair is aligned but the summary warns: more than Sentinel-2's usual error.
WARN_SHIFT_PX = 2.0
#: Above this the pair is refused: the dates are not of the same ground, or the estimate is wrong.
MAX_SHIFT_PX = 6.0
TILE_PX = 256
#: Images smaller than this (pixels a side) give no reliable shift: it is not estimated.
MIN_TILE_PX = 64
MIN_CLEAR_SHARE = 0.7
UPSAMPLE = 20
#: A tile's estimate counts only when the edges of the two dates, once aligned, correlate at
#: least this well (same ground seen twice); a lone tile must match better still.
MIN_EDGE_CORRELATION = 0.3
MIN_EDGE_CORRELATION_ONE_TILE = 0.5


@dataclass
class ShiftEstimate:
    """The estimated shift of post against pre, with how it was obtained."""

    rows_px: float
    cols_px: float
    tiles_used: int
    tiles_total: int
    spread_px: float  # median absolute deviation of the tile estimates (pixels)
    reliable: bool
    applied: bool = False
    warning: Optional[str] = None
    pixel_size_m: Optional[float] = None
    notes: list[str] = field(default_factory=list)

    @property
    def magnitude_px(self) -> float:
        return math.hypot(self.rows_px, self.cols_px)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["magnitude_px"] = round(self.magnitude_px, 3)
        if self.pixel_size_m:
            d["magnitude_m"] = round(self.magnitude_px * self.pixel_size_m, 2)
        for k in ("rows_px", "cols_px", "spread_px"):
            d[k] = round(float(d[k]), 3)
        return d


def edge_image(band: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Gradient magnitude of a band (float32), 0 where the band or a neighbour is not valid.

    Uses the logarithm of the band, so a gain between the dates does not change it.
    """
    b = np.asarray(band, dtype=np.float32)
    ok = valid & np.isfinite(b) & (b > 0)
    fill = float(np.median(b[ok])) if ok.any() else 1.0
    logb = np.log(np.where(ok, b, fill))
    smooth = ndimage.gaussian_filter(logb, 1.0)
    g = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1)).astype(np.float32)
    bad = ndimage.binary_dilation(~ok, iterations=2) if (~ok).any() else ~ok
    g[bad] = 0.0
    return g


def _tile_starts(length: int, tile: int) -> list[int]:
    if length <= tile:
        return [0]
    n = max(2, int(math.ceil(length / tile)))
    return [int(round(i * (length - tile) / (n - 1))) for i in range(n)]


def sample_tiles(height: int, width: int, tile_px: int = TILE_PX, max_tiles: int = 36) -> tuple[int, list[tuple[int, int]]]:
    """The tile size and the (row, col) corners of the tiles a shift is estimated on: tiles
    spread over the image, at most ``max_tiles`` of them (size 0: the image is too small)."""
    tile = int(min(tile_px, height, width))
    if tile < MIN_TILE_PX:
        return 0, []
    starts = [(r, c) for r in _tile_starts(height, tile) for c in _tile_starts(width, tile)]
    if len(starts) > max_tiles:
        idx = np.linspace(0, len(starts) - 1, max_tiles).round().astype(int)
        starts = [starts[i] for i in idx]
    return tile, starts


#: read_tile(row, col, size) -> (pre band, post band, pre valid, post valid) of one sample tile
ReadTile = Callable[[int, int, int], "tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]"]


def estimate_shift(pre_band: np.ndarray, post_band: np.ndarray, pre_valid: Optional[np.ndarray] = None,
                   post_valid: Optional[np.ndarray] = None, tile_px: int = TILE_PX,
                   max_tiles: int = 36, cancel=None) -> ShiftEstimate:
    """Estimate the sub-pixel shift of ``post_band`` against ``pre_band`` (same grid, (H, W));
    ``cancel`` (a CancelToken) is checked before each tile."""
    pre_band, post_band = np.asarray(pre_band), np.asarray(post_band)
    if pre_band.shape != post_band.shape or pre_band.ndim != 2:
        raise InputError(f"The two dates' bands differ in shape ({pre_band.shape} vs {post_band.shape}).",
                         "Put both dates on the same grid first.")
    h, w = pre_band.shape
    pv = np.ones((h, w), bool) if pre_valid is None else np.asarray(pre_valid, bool)
    qv = np.ones((h, w), bool) if post_valid is None else np.asarray(post_valid, bool)

    def read_tile(r: int, c: int, size: int):
        sl = (slice(r, r + size), slice(c, c + size))
        return pre_band[sl], post_band[sl], pv[sl], qv[sl]

    return estimate_shift_by_tiles(read_tile, h, w, tile_px, max_tiles, cancel=cancel)


def estimate_shift_by_tiles(read_tile: ReadTile, height: int, width: int, tile_px: int = TILE_PX,
                            max_tiles: int = 36, cancel=None) -> ShiftEstimate:
    """:func:`estimate_shift` of an image read tile by tile (only the sample tiles of
    :func:`sample_tiles` are read), for images too large to hold or spread over files;
    ``cancel`` (a CancelToken) is checked before each tile."""
    tile, starts = sample_tiles(height, width, tile_px, max_tiles)
    if not tile:
        return ShiftEstimate(0.0, 0.0, 0, 0, 0.0, False, notes=["the image is too small to estimate a shift"])
    return combine_tile_shifts(measure_tile_shifts(read_tile, tile, starts, cancel), len(starts))


#: One sample tile's shift (rows, cols) and its edge correlation once aligned.
TileShift = tuple[float, float, float]


def measure_tile_shifts(read_tile: ReadTile, tile: int, starts: list[tuple[int, int]],
                        cancel=None) -> list[TileShift]:
    """The shift of each sample tile at ``starts`` whose edges match between the dates (a part
    of :func:`estimate_shift_by_tiles`: parts measured apart, in any order, and put together by
    :func:`combine_tile_shifts` give the same estimate as one run)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return _measure_tile_shifts(read_tile, tile, starts, cancel)


def _measure_tile_shifts(read_tile: ReadTile, tile: int, starts: list[tuple[int, int]], cancel) -> list[TileShift]:
    """:func:`measure_tile_shifts` with numpy's BLAS on one thread: the sub-pixel refinement's
    small matrix products (skimage's upsampled DFT) took 50 times longer on two BLAS threads
    while the detection's other threads held the cores (8.5 ms against 0.16 ms each; 0.6 s of
    the alignment at 400 km2)."""
    from skimage.registration import phase_cross_correlation

    from .progress import check_cancel

    window = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)
    measured: list[TileShift] = []
    for r, c in starts:
        check_cancel(cancel)
        pre_t, post_t, pv, qv = read_tile(r, c, tile)
        clear = pv & qv
        if clear.mean() < MIN_CLEAR_SHARE:
            continue
        a = edge_image(pre_t, pv)
        b = edge_image(post_t, qv)
        if float(a.std()) < 1e-4 or float(b.std()) < 1e-4:
            continue  # no texture to match
        # phase_cross_correlation returns the shift that registers the moving image (post) onto
        # the reference (pre): post content at (r, c) is pre content at (r + s0, c + s1)
        shift, _, _ = phase_cross_correlation((a - a.mean()) * window, (b - b.mean()) * window,
                                              upsample_factor=UPSAMPLE, normalization=None)
        q = _aligned_correlation(a, b, (float(shift[0]), float(shift[1])), clear)
        if q >= MIN_EDGE_CORRELATION:
            measured.append((float(shift[0]), float(shift[1]), q))
    return measured


def combine_tile_shifts(measured: list[TileShift], tiles_total: int) -> ShiftEstimate:
    """The shift from the sample tiles' measures: the median of those that agree, and whether
    enough of them agree for it to be reliable."""
    if not measured:
        return ShiftEstimate(0.0, 0.0, 0, tiles_total, 0.0, False,
                             notes=["no tile had enough clear pixels whose edges match between the dates"])
    est = np.array([(m[0], m[1]) for m in measured])
    quality = [m[2] for m in measured]
    med = np.median(est, axis=0)
    spread = float(np.median(np.hypot(*(est - med).T)))
    agree = np.hypot(*(est - med).T) <= max(0.5, 3 * spread)
    if agree.any():
        med = np.median(est[agree], axis=0)
    enough = agree.sum() >= 3 or (agree.sum() >= 1 and max(quality) >= MIN_EDGE_CORRELATION_ONE_TILE)
    reliable = bool(enough and agree.sum() >= 0.5 * len(est) and spread <= 0.5)
    return ShiftEstimate(float(med[0]), float(med[1]), int(agree.sum()), tiles_total, spread, reliable,
                         notes=[f"edge correlation after alignment: median {float(np.median(quality)):.2f}"])


def _aligned_correlation(a: np.ndarray, b: np.ndarray, shift: tuple[float, float], clear: np.ndarray) -> float:
    """Pearson correlation of edge images ``a`` (pre) and ``b`` (post) once ``a`` is aligned."""
    m = int(math.ceil(max(abs(shift[0]), abs(shift[1])))) + 2
    if 2 * m >= min(a.shape) - 8:
        return 0.0
    a_al = shift_image(a, shift, order=1, cval=0.0)
    inner = (slice(m, -m), slice(m, -m))
    ok = clear[inner]
    x, y = a_al[inner][ok], b[inner][ok]
    if x.size < 1024 or x.std() < 1e-9 or y.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def decide(estimate: ShiftEstimate, pixel_size_m: Optional[float] = None) -> ShiftEstimate:
    """Whether to apply the shift; warn when it is large; refuse when it is implausible."""
    estimate.pixel_size_m = pixel_size_m
    mag = estimate.magnitude_px
    unit = f" ({mag * pixel_size_m:.0f} m)" if pixel_size_m else ""
    if not estimate.reliable:
        estimate.applied = False
        estimate.notes.append("the shift estimate is not reliable (few clear tiles or tiles disagree): not applied")
        return estimate
    if mag > MAX_SHIFT_PX:
        raise InputError(
            f"The before and after images are misaligned by {mag:.1f} pixels{unit}, more than the "
            f"{MAX_SHIFT_PX:g} pixels that Sentinel-2 dates of one place can differ by.",
            "Check that both images cover the same ground on the same grid (and are not of another place "
            "or shifted by a processing error).")
    estimate.applied = mag >= NEGLIGIBLE_SHIFT_PX
    if mag > WARN_SHIFT_PX:
        estimate.warning = (f"The dates were misaligned by {mag:.1f} pixels{unit}, more than usual for "
                            "Sentinel-2; they were aligned, but check the result along edges.")
    return estimate


def shift_image(image: np.ndarray, shift_px: tuple[float, float], order: int = 1,
                cval: float = np.nan) -> np.ndarray:
    """Resample (H, W) or (C, H, W) ``image`` at (r + rows, c + cols): aligns pre onto post."""
    img = np.asarray(image, dtype=np.float32)
    rows, cols = shift_px
    if img.ndim == 2:
        return ndimage.shift(img, (-rows, -cols), order=order, mode="constant", cval=cval, prefilter=False)
    return np.stack([ndimage.shift(b, (-rows, -cols), order=order, mode="constant", cval=cval, prefilter=False)
                     for b in img])


__all__ = ["ShiftEstimate", "TileShift", "estimate_shift", "estimate_shift_by_tiles", "measure_tile_shifts",
           "combine_tile_shifts", "sample_tiles", "decide", "shift_image",
           "edge_image", "NEGLIGIBLE_SHIFT_PX", "WARN_SHIFT_PX", "MAX_SHIFT_PX"]
