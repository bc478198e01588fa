"""The band contract: raw scene values -> model input in Landslide4Sense (L4S) units.

Raw units: Sentinel-2 L1C digital numbers on the 0-10000 reflectance scale for B1..B12
(B8A left out), slope in degrees (Horn's method), elevation in metres. L4S units are the
raw values divided by :data:`L4S_SCALE`. The same :func:`to_model_input` serves training
(L4S patches are already in L4S units: pass ``units="l4s"``) and inference (raw scenes).

Non-finite values (NaN, +-inf) carry no information: they mark the pixel as not valid and
are set to 0 in the model input, so a model never sees NaN and the pixel is reported as
"not assessable" by the predictor.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from .errors import InputError

SPECTRAL_BANDS: tuple[str, ...] = (
    "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12",
)
SLOPE = "slope"
ELEVATION = "elevation"
VALID = "valid"
#: The 14 bands of the contract, in order.
ALL_BANDS: tuple[str, ...] = SPECTRAL_BANDS + (SLOPE, ELEVATION)

#: Raw value / L4S_SCALE = L4S value, per band of ALL_BANDS (Landslide4Sense authors).
L4S_SCALE = np.array(
    [1111.81236406, 824.63171476, 663.41636217, 445.17289745, 645.8582926,
     1547.73508126, 1960.44401001, 1941.32229668, 674.07572865, 9.04787384,
     1113.98338755, 519.90397929, 20.29228266, 772.83144788],
    dtype=np.float64,
)

#: Named band sets a model can be trained on. ``surface10`` keeps what describes the ground:
#: the 10 m and 20 m surface bands and the slope; it leaves out the atmospheric bands (B1
#: aerosol, B9 water vapour, B10 cirrus), which describe the air and vary with it, and the
#: absolute elevation, which says where a region lies rather than whether a slope failed.
BAND_SETS: dict[str, tuple[str, ...]] = {
    "l4s14": ALL_BANDS,
    "thesis6": ("B2", "B3", "B4", "B8", SLOPE, ELEVATION),
    "surface10": ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B11", "B12", SLOPE),
}

#: Scaling names a model card may declare: "l4s" (Landslide4Sense units as they are, the
#: default) or "minmax" (per band, (L4S value - min) / (max - min), the thesis's min-max to
#: 0-1, with min and max of the training split stored in the model card).
SCALINGS = ("l4s", "minmax")
DEFAULT_SCALING = "l4s"


def band_set(name: str) -> tuple[str, ...]:
    """The band names of a named set, or a clear error listing the known sets."""
    try:
        return BAND_SETS[name]
    except KeyError:
        raise InputError(
            f"Unknown band set '{name}'.", f"Use one of: {', '.join(sorted(BAND_SETS))}."
        ) from None


def band_indices(names: Sequence[str]) -> list[int]:
    """Positions of ``names`` in the contract order (ALL_BANDS)."""
    missing = [n for n in names if n not in ALL_BANDS]
    if missing:
        raise InputError(f"Unknown band names: {', '.join(missing)}.",
                         f"Band names are {', '.join(ALL_BANDS)}.")
    return [ALL_BANDS.index(n) for n in names]


def missing_bands(required: Sequence[str], available: Sequence[str]) -> list[str]:
    """Bands of ``required`` that ``available`` lacks, in the order of ``required``."""
    have = set(available)
    return [b for b in required if b not in have]


def scale_vector(names: Sequence[str]) -> np.ndarray:
    """The L4S divisors of the given bands, as float32 of shape (len(names),)."""
    return L4S_SCALE[band_indices(names)].astype(np.float32)


def to_model_input(
    stack: np.ndarray,
    stack_bands: Sequence[str],
    model_bands: Sequence[str],
    units: str = "raw",
    scaling: Optional["BandScaling"] = None,
    valid: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Select ``model_bands`` from ``stack`` (C, H, W) and convert them to L4S units.

    Returns ``(x, finite)``: ``x`` float32 (len(model_bands), H, W) with non-finite values
    set to 0, and ``finite`` bool (H, W), False where any selected band was not finite.
    ``units`` is "raw" (scene values, divided by the L4S vector) or "l4s" (already scaled).
    ``valid`` (H, W): pixels marked False (cloud, nodata) are set to 0 as well. ``scaling``
    (a model's :class:`BandScaling`) is applied last, to the L4S values with their fills, in
    training and inference alike.
    """
    if stack.ndim != 3 or stack.shape[0] != len(stack_bands):
        raise InputError(
            f"The stack has shape {stack.shape} but {len(stack_bands)} band names were given.",
            "Give one name per band, in (bands, rows, cols) order.",
        )
    lacking = missing_bands(model_bands, stack_bands)
    if lacking:
        raise InputError(
            f"The input lacks the bands the model needs: {', '.join(lacking)}.",
            "Provide a scene with these bands or choose a model trained on a smaller band set.",
        )
    idx = [list(stack_bands).index(b) for b in model_bands]
    x = stack[idx].astype(np.float32, copy=True)
    if units == "raw":
        x /= scale_vector(model_bands)[:, None, None]
    elif units != "l4s":
        raise ValueError(f"units must be 'raw' or 'l4s', not {units!r}")
    finite = np.isfinite(x).all(axis=0)
    if not finite.all():
        x[~np.isfinite(x)] = 0.0
    if valid is not None:
        x[:, ~np.asarray(valid, bool)] = 0.0
    if scaling is not None:
        x = scaling.apply(x, model_bands)
    return x, finite


@dataclass(frozen=True)
class BandScaling:
    """What a model's input is after the L4S units: "l4s" (nothing more) or "minmax".

    For "minmax", ``minimum`` and ``maximum`` are per band of ``bands``, in L4S units,
    measured on the training split; the input becomes (x - minimum) / (maximum - minimum),
    so the training split spans 0 to 1 (other data may fall slightly outside). The same
    numbers travel in the model card (``scaling_stats``), so inference applies exactly them.
    """

    name: str = DEFAULT_SCALING
    bands: tuple[str, ...] = ()
    minimum: tuple[float, ...] = ()
    maximum: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        problem = scaling_problem(self.name, self.stats() if self.name == "minmax" else {}, self.bands)
        if problem:
            raise InputError(f"The input scaling is unusable: {problem}.",
                             "Use scaling 'l4s', or 'minmax' with one finite min < max per band.")

    @property
    def identity(self) -> bool:
        return self.name == "l4s"

    def stats(self) -> dict[str, Any]:
        """The statistics as stored in a model card (empty for "l4s")."""
        if self.identity:
            return {}
        return {"bands": list(self.bands), "min": [float(v) for v in self.minimum],
                "max": [float(v) for v in self.maximum], "units": "l4s"}

    def describe(self) -> str:
        if self.identity:
            return "raw / L4S vector (Landslide4Sense units); non-finite -> 0"
        return ("raw / L4S vector, then per band (x - min) / (max - min) with min and max of the training "
                "split (scaling_stats); non-finite and not-valid pixels -> 0 before the min-max")

    def apply(self, x: np.ndarray, bands: Sequence[str]) -> np.ndarray:
        """Scale ``x`` (..., C, H, W) in L4S units whose channels are ``bands``; float32."""
        if self.identity:
            return x
        if tuple(bands) != self.bands:
            raise InputError(f"The min-max statistics are for the bands {', '.join(self.bands)}, "
                             f"not {', '.join(bands)}.", "Use the bands the model was trained on.")
        lo = np.asarray(self.minimum, np.float32)[:, None, None]
        span = (np.asarray(self.maximum, np.float32) - np.asarray(self.minimum, np.float32))[:, None, None]
        return ((np.asarray(x, np.float32) - lo) / span).astype(np.float32, copy=False)

    @classmethod
    def from_stats(cls, name: str, stats: Optional[dict[str, Any]], bands: Sequence[str]) -> "BandScaling":
        """A scaling from a card's ``scaling`` and ``scaling_stats`` (checked)."""
        if name != "minmax":
            return cls(name, tuple(bands))
        stats = stats or {}
        problem = scaling_problem(name, stats, bands)
        if problem:
            raise InputError(f"The input scaling is unusable: {problem}.",
                             "Retrain the model, or fix the card's scaling_stats.")
        return cls(name, tuple(bands), tuple(float(v) for v in stats["min"]), tuple(float(v) for v in stats["max"]))


def scaling_problem(name: Any, stats: Any, bands: Sequence[str]) -> Optional[str]:
    """What is wrong with a scaling name and its statistics (None: usable)."""
    if name not in SCALINGS:
        return f"unknown scaling {str(name)[:40]!r} (known: {', '.join(SCALINGS)})"
    if name != "minmax":
        return None
    if not isinstance(stats, dict):
        return "scaling_stats is not a JSON object"
    lo, hi = stats.get("min"), stats.get("max")
    n = len(bands)
    for key, values in (("min", lo), ("max", hi)):
        if not isinstance(values, (list, tuple)) or len(values) != n:
            return f"scaling_stats.{key} is not a list of {n} numbers (one per band)"
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            return f"scaling_stats.{key} holds values that are not finite numbers"
    if "bands" in stats and list(stats["bands"]) != list(bands):
        return f"scaling_stats.bands {stats['bands']} differ from the model's bands {list(bands)}"
    if any(float(b) <= float(a) for a, b in zip(lo, hi)):
        return "scaling_stats has a band whose max is not above its min (a constant band)"
    return None


def minmax_scaling(x: np.ndarray, bands: Sequence[str], chunk: int = 64) -> BandScaling:
    """Per-band min and max of ``x`` (N, C, H, W) in L4S units (finite values; memory-mapped
    arrays are read ``chunk`` samples at a time). A constant band gets a span of 1."""
    n, c = int(x.shape[0]), int(x.shape[1])
    if n == 0:
        raise InputError("Min-max statistics need at least one training patch.")
    lo = np.full(c, np.inf)
    hi = np.full(c, -np.inf)
    for i in range(0, n, chunk):
        part = np.asarray(x[i:i + chunk], np.float32)
        part = np.where(np.isfinite(part), part, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN band in a chunk
            lo = np.fmin(lo, np.nanmin(part, axis=(0, 2, 3)))
            hi = np.fmax(hi, np.nanmax(part, axis=(0, 2, 3)))
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi) & (hi > lo), hi, lo + 1.0)
    # float32 round trip: the stored numbers are exactly those applied
    return BandScaling("minmax", tuple(bands), tuple(float(np.float32(v)) for v in lo),
                       tuple(float(np.float32(v)) for v in hi))


def to_raw(x_l4s: np.ndarray, bands: Sequence[str]) -> np.ndarray:
    """Inverse of the scaling: L4S units (C, H, W) -> raw units, float32."""
    return (x_l4s * scale_vector(bands)[:, None, None]).astype(np.float32)


def slope_horn_deg(elevation_m: np.ndarray, pixel_width_m: float, pixel_height_m: float) -> np.ndarray:
    """Slope in degrees by Horn's (1981) 3x3 method, on a grid of the given real pixel size.

    Edges are handled by replicating the border row/column, so the output has the input's
    shape. NaN elevations give NaN slope in their 3x3 neighbourhood.
    """
    if pixel_width_m <= 0 or pixel_height_m <= 0:
        raise InputError(f"Pixel size must be positive metres, got {pixel_width_m} x {pixel_height_m}.")
    # float32 throughout: neighbours' differences are taken first, so elevations of thousands of
    # metres lose nothing (within 2e-5 deg of float64 arithmetic, at twice the speed)
    z = np.pad(np.asarray(elevation_m, dtype=np.float32), 1, mode="edge")
    a, b, c = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
    d, f = z[1:-1, :-2], z[1:-1, 2:]
    g, h, i = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
    dz_dx = ((c - a) + 2 * (f - d) + (i - g)) * np.float32(1.0 / (8.0 * pixel_width_m))
    dz_dy = ((g - a) + 2 * (h - b) + (i - c)) * np.float32(1.0 / (8.0 * pixel_height_m))
    return np.degrees(np.arctan(np.hypot(dz_dx, dz_dy)))
