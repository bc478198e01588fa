"""Pictures of a finished analysis for reports and documents (matplotlib, no window):
the situation map, the slope-class chart and the quicklooks (before, after, change).

Everything is drawn in longitude/latitude with the aspect of the area's latitude, so the
map's axes carry coordinates; the scale bar is measured on the ground at the map's centre.
Backgrounds: the analysis's true-colour images (``display/``), else the scene files when
they still exist, else a shaded relief of the saved elevation (``evidence.tif``).
"""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..display import CHANGE_CLASSES
from ..i18n import t
from .facts import ReportFacts

NEW_EDGE = "#d7191c"
AOI_EDGE = "#111111"
METRES_PER_DEG_LAT = 111_320.0


# ------------------------------------------------------------------ backgrounds

def _png_array(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def _extent(bounds) -> tuple[float, float, float, float]:
    (s, w), (n, e) = bounds
    return (w, e, s, n)


def backdrop(facts: ReportFacts, role: str) -> Optional[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """True colour of one date as (RGBA, extent w e s n), or None when neither the analysis's
    images nor the scene files are there."""
    result = facts.result
    display = result.display or {}
    rel = display.get(f"{role}_rgb")
    if rel and result.path(rel).is_file() and display.get("bounds"):
        return _png_array(result.path(rel).read_bytes()), _extent(display["bounds"])
    if facts._backdrops is None:
        facts._backdrops = _rgb_from_scenes(result)
    return facts._backdrops.get(role)


def _rgb_from_scenes(result) -> dict[str, Any]:
    from ..display import read_true_colour, stretch_limits, true_colour_overlay

    stacks = {}
    for role in ("pre", "post"):
        path = (result.scenes or {}).get(role)
        if path and Path(path).is_file():
            try:
                stacks[role] = read_true_colour(path)
            except Exception:  # noqa: BLE001 - a scene that cannot be read: no picture of it
                continue
    if not stacks:
        return {}
    lo, hi = stretch_limits(*[(s[0], s[1]) for s in stacks.values()])
    out = {}
    for role, (rgb, valid, transform, crs) in stacks.items():
        png, bounds = true_colour_overlay(rgb, valid, transform, crs, lo, hi)
        out[role] = (_png_array(png), _extent(bounds))
    return out


def relief(facts: ReportFacts) -> Optional[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """Shaded relief as (RGBA, extent): the analysis's, else one made from ``evidence.tif``."""
    result = facts.result
    display = result.display or {}
    rel = display.get("hillshade")
    if rel and result.path(rel).is_file() and display.get("bounds"):
        return _png_array(result.path(rel).read_bytes()), _extent(display["bounds"])
    from ..evidence import EVIDENCE_FILE, read_evidence

    if not result.path(EVIDENCE_FILE).is_file():
        return None
    from rasterio.enums import Resampling

    from ..display import hillshade, to_lonlat

    _, _, elevation = read_evidence(result.path(EVIDENCE_FILE))
    if elevation is None or not np.isfinite(elevation).any():
        return None
    px = facts.pixel_size_m
    shade = hillshade(elevation, px, px)
    ll, bounds = to_lonlat(shade, facts.transform, facts.crs, Resampling.bilinear, nodata=np.nan)
    grey = (np.nan_to_num(ll) * 200 + 40).round().astype(np.uint8)
    rgba = np.stack([grey, grey, grey, np.where(np.isfinite(ll), 255, 0).astype(np.uint8)], axis=-1)
    return rgba, _extent(bounds)


def change_layer(facts: ReportFacts, classes=(2, 3, 255)) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The change classes in lon/lat as RGBA, only ``classes`` drawn (new landslides are
    outlined from their polygons instead)."""
    from rasterio.enums import Resampling

    from ..display import classes_rgba, to_lonlat

    ll, bounds = to_lonlat(facts.change_raster.astype(np.float32), facts.transform, facts.crs, Resampling.nearest,
                           nodata=-1.0)
    ll = np.where(ll < 0, 0, ll).astype(np.uint8)
    return classes_rgba(ll, {k: CHANGE_CLASSES[k][1] for k in classes}), _extent(bounds)


# ------------------------------------------------------------------ map furniture

def _lon_label(x: float, _pos=None) -> str:
    return f"{abs(x):.3f}°{'E' if x >= 0 else 'W'}"


def _lat_label(y: float, _pos=None) -> str:
    return f"{abs(y):.3f}°{'N' if y >= 0 else 'S'}"


def nice_length_m(span_m: float) -> float:
    """A round scale-bar length near a fifth of ``span_m`` (1, 2 or 5 x 10^k metres)."""
    target = max(span_m / 5.0, 1.0)
    k = 10 ** math.floor(math.log10(target))
    return max((m * k for m in (1, 2, 5, 10) if m * k <= target), default=k)


def _scale_text(length_m: float) -> str:
    return f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"


def _scale_bar(ax, extent, lat0: float) -> None:
    from matplotlib.patches import Rectangle

    w, e, s, n = extent
    m_per_deg_lon = METRES_PER_DEG_LAT * math.cos(math.radians(lat0))
    span_m = (e - w) * m_per_deg_lon
    length_m = nice_length_m(span_m)
    length_deg = length_m / m_per_deg_lon
    dx, dy = e - w, n - s
    x0, y0 = w + 0.05 * dx, s + 0.045 * dy
    h = 0.016 * dy
    ax.add_patch(Rectangle((x0 - 0.025 * dx, y0 - 0.025 * dy), length_deg + 0.05 * dx + 0.09 * dx, 0.095 * dy,
                           facecolor="white", edgecolor="none", alpha=0.85, zorder=9))
    for i in range(4):
        ax.add_patch(Rectangle((x0 + i * length_deg / 4, y0), length_deg / 4, h,
                               facecolor="black" if i % 2 == 0 else "white", edgecolor="black", lw=0.6, zorder=10))
    for x, label in ((x0, "0"), (x0 + length_deg / 2, f"{length_m / 2:g}" if length_m < 1000 else f"{length_m / 2000:g}"),
                     (x0 + length_deg, _scale_text(length_m))):
        ax.text(x, y0 + h + 0.012 * dy, label, fontsize=6, ha="left" if x == x0 + length_deg else "center",
                va="bottom", zorder=10)


def _north_arrow(ax, extent) -> None:
    w, e, s, n = extent
    x, y = e - 0.06 * (e - w), n - 0.2 * (n - s)
    ax.annotate("", xy=(x, y + 0.12 * (n - s)), xytext=(x, y), zorder=10,
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.6,
                            "path_effects": _halo(3)})
    ax.text(x, y + 0.14 * (n - s), "N", ha="center", va="bottom", fontsize=10, fontweight="bold", zorder=10,
            path_effects=_halo(2.5))


def _halo(width: float):
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width, foreground="white")]


def _rings(geometry: dict) -> list[np.ndarray]:
    if not geometry:
        return []
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    polys = [coords] if kind == "Polygon" else (coords if kind == "MultiPolygon" else [])
    return [np.asarray(ring, dtype=float) for poly in polys for ring in poly if len(ring) >= 3]


def _figure(width_in: float, height_in: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=100)


def _png(fig, dpi: int = 200) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def _map_extent(facts: ReportFacts) -> tuple[float, float, float, float]:
    w, s, e, n = facts.bounds_lonlat
    return (w, e, s, n)


def _draw_aoi(ax, facts: ReportFacts, label: Optional[str] = None) -> None:
    for i, ring in enumerate(_rings(facts.aoi or {})):
        ax.plot(ring[:, 0], ring[:, 1], color="white", lw=2.6, zorder=6)
        ax.plot(ring[:, 0], ring[:, 1], color=AOI_EDGE, lw=1.2, ls=(0, (4, 2)), zorder=7,
                label=label if i == 0 else None)


def _base(ax, facts: ReportFacts, role: str = "post") -> bool:
    """The true colour of ``role`` (else relief) as the map's background; True if true colour."""
    img = backdrop(facts, role)
    if img is None:
        img = relief(facts)
        colour = False
    else:
        colour = True
    if img is not None:
        ax.imshow(img[0], extent=img[1], origin="upper", interpolation="bilinear", zorder=1)
    else:
        ax.set_facecolor("#f2f0ea")
    return colour


def _fix_axes(ax, facts: ReportFacts, coords: bool = True) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    w, e, s, n = _map_extent(facts)
    ax.set_xlim(w, e)
    ax.set_ylim(s, n)
    lat0 = (s + n) / 2
    ax.set_aspect(1.0 / max(math.cos(math.radians(lat0)), 1e-6))
    if coords:
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.xaxis.set_major_formatter(FuncFormatter(_lon_label))
        ax.yaxis.set_major_formatter(FuncFormatter(_lat_label))
        ax.tick_params(labelsize=6.5, length=3)
        for label in ax.get_yticklabels():
            label.set_rotation(90)
            label.set_va("center")
        ax.grid(True, color="white", alpha=0.35, lw=0.5, zorder=3)
    else:
        ax.set_axis_off()


# ------------------------------------------------------------------ the figures

def map_size_in(facts: ReportFacts, width_in: float = 7.1, max_height_in: float = 4.9) -> tuple[float, float]:
    """(width, height) in inches of the situation map: the area's shape, legend below."""
    w, e, s, n = _map_extent(facts)
    ratio = (n - s) / max((e - w) * math.cos(math.radians((s + n) / 2)), 1e-9)
    axes_w = width_in * 0.86
    return width_in, min(max(axes_w * ratio, 2.2), max_height_in) + 0.75


def situation_map_png(facts: ReportFacts, lang: str, dpi: int = 200) -> bytes:
    """The report's map: after-date true colour, new landslides outlined and numbered (the
    ten largest), other change classes shaded, the area, a scale bar, a north arrow, lon/lat."""
    from matplotlib.patches import Patch
    from matplotlib.lines import Line2D

    width_in, height_in = map_size_in(facts)
    fig = _figure(width_in, height_in)
    legend_in = 0.75
    ax = fig.add_axes((0.08, legend_in / height_in, 0.9, 1 - legend_in / height_in - 0.02))
    colour = _base(ax, facts, "post")
    layer, extent = change_layer(facts)
    ax.imshow(layer, extent=extent, origin="upper", interpolation="nearest", alpha=0.85, zorder=4)
    for f in facts.new_features:
        for ring in _rings(f.get("geometry") or {}):
            ax.fill(ring[:, 0], ring[:, 1], facecolor=NEW_EDGE, alpha=0.35, edgecolor="none", zorder=5)
            ax.plot(ring[:, 0], ring[:, 1], color="white", lw=1.8, zorder=5)
            ax.plot(ring[:, 0], ring[:, 1], color=NEW_EDGE, lw=1.0, zorder=6)
    for p in facts.top:
        if p.get("centroid_lon") is not None:
            ax.text(float(p["centroid_lon"]), float(p["centroid_lat"]), str(p.get("id")), fontsize=6.5,
                    fontweight="bold", ha="left", va="bottom", zorder=8, path_effects=_halo(2))
    _draw_aoi(ax, facts, t("report.map.aoi", lang))
    _fix_axes(ax, facts)
    ext = _map_extent(facts)
    _scale_bar(ax, ext, (ext[2] + ext[3]) / 2)
    _north_arrow(ax, ext)
    handles = [Patch(facecolor=NEW_EDGE, alpha=0.6, edgecolor=NEW_EDGE, label=t("report.map.new", lang))]
    for value, key in ((2, "report.map.persisting"), (3, "report.map.vanished"), (255, "report.map.not_assessable")):
        r, g, b, a = CHANGE_CLASSES[value][1]
        handles.append(Patch(facecolor=(r / 255, g / 255, b / 255, a / 255), label=t(key, lang)))
    if facts.aoi:
        handles.append(Line2D([0], [0], color=AOI_EDGE, lw=1.2, ls=(0, (4, 2)), label=t("report.map.aoi", lang)))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=6.5, frameon=False,
               bbox_to_anchor=(0.53, 0.0))
    note = t("report.map.background_rgb" if colour else "report.map.background_relief", lang,
             date=facts.post.date_text)
    fig.text(0.08, 0.45 / height_in, note, fontsize=6, color="#444444")
    return _png(fig, dpi)


def slope_chart_png(facts: ReportFacts, lang: str, width_in: float = 3.6, height_in: float = 2.4,
                    dpi: int = 200) -> bytes:
    """New landslide area (ha) per slope class, with the count on each bar."""
    fig = _figure(width_in, height_in)
    ax = fig.add_axes((0.17, 0.22, 0.8, 0.68))
    rows = facts.slope_classes
    labels = [str(r["slope_class"]).replace(" deg", "°") if r["slope_class"] != "unknown"
              else t("report.chart.unknown", lang) for r in rows]
    values = [float(r["area_ha"]) for r in rows]
    bars = ax.bar(range(len(rows)), values, color="#b5442c", width=0.7)
    for bar, r in zip(bars, rows):
        if r["count"]:
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), str(int(r["count"])), ha="center",
                    va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    top = max(values, default=0.0)
    ax.set_ylim(0, top * 1.25 if top > 0 else 1)
    if top <= 0:  # an empty chart says why it is empty
        ax.text(0.5, 0.5, t("report.chart.none", lang), transform=ax.transAxes, ha="center", va="center",
                fontsize=8, color="#555555")
    ax.set_xlabel(t("report.chart.x", lang), fontsize=7)
    ax.set_ylabel(t("report.chart.y", lang), fontsize=7)
    ax.set_title(t("report.chart.title", lang), fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig, dpi)


def _quicklook_size(facts: ReportFacts, long_in: float = 6.0) -> tuple[float, float]:
    w, e, s, n = _map_extent(facts)
    ratio = ((n - s) / max((e - w) * math.cos(math.radians((s + n) / 2)), 1e-9))
    return (long_in, long_in * ratio) if ratio <= 1 else (long_in / ratio, long_in)


def quicklook_png(facts: ReportFacts, what: str, lang: str, dpi: int = 170) -> bytes:
    """A picture to paste into a document: ``before`` or ``after`` (true colour, the area
    outlined) or ``change`` (the change classes over the after-date image, with a legend)."""
    from matplotlib.patches import Patch

    width, height = _quicklook_size(facts)
    legend = what == "change"
    fig = _figure(width, height + (0.35 if legend else 0))
    bottom = 0.35 / (height + 0.35) if legend else 0.0
    ax = fig.add_axes((0, bottom, 1, 1 - bottom))
    _base(ax, facts, "pre" if what == "before" else "post")
    if what == "change":
        layer, extent = change_layer(facts, classes=(1, 2, 3, 255))
        ax.imshow(layer, extent=extent, origin="upper", interpolation="nearest", zorder=4)
        handles = []
        for value, key in ((1, "report.map.new"), (2, "report.map.persisting"), (3, "report.map.vanished"),
                           (255, "report.map.not_assessable")):
            r, g, b, a = CHANGE_CLASSES[value][1]
            handles.append(Patch(facecolor=(r / 255, g / 255, b / 255, a / 255), label=t(key, lang)))
        fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    _draw_aoi(ax, facts)
    _fix_axes(ax, facts, coords=False)
    return _png(fig, dpi)


__all__ = ["situation_map_png", "slope_chart_png", "quicklook_png", "backdrop", "relief", "nice_length_m"]
