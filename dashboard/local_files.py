"""Scene GeoTIFFs uploaded on the Monitor page: saved under their own names, checked at once.

An upload is stored as ``<results>/uploads/<content hash>/<its file name>``, so every message
(here and from the local source) names the file the user chose, never an internal hashed
name. Each file is checked when it arrives (readable GeoTIFF, coordinate system, the bands
the model needs), with messages in the page's words: upload fields, not command-line options.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Optional

import streamlit as st

from landslide_core.errors import InputError, UserError

from . import state
from .i18n import error_text, t

ROLES = {"pre_path": "'before'", "post_path": "'after'", "dem_path": "DEM"}


def safe_name(name: str) -> str:
    """The uploaded file's own name, reduced to a safe file name (letters, digits, ._-)."""
    base = Path(str(name or "")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "scene"
    if suffix not in (".tif", ".tiff"):
        suffix = ".tif"
    return stem[:80] + suffix


def save_upload(name: str, data: bytes, root: Optional[Path] = None) -> Path:
    """Store an upload once per content under its own name; returns its path."""
    folder = (root or state.results_root() / "uploads") / hashlib.sha256(data).hexdigest()[:20]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe_name(name)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def check_scene_file(path: Path, role: str, needs_elevation: bool = True) -> None:
    """InputError, in the page's words, when an uploaded scene cannot be used."""
    import rasterio
    from rasterio.errors import RasterioError

    from landslide_core.bands import ELEVATION, SPECTRAL_BANDS
    from landslide_core.sources.local import resolve_bands

    what = f"The {ROLES.get(role, role)} file {path.name}"
    try:
        with rasterio.open(path) as ds:
            crs, count, descriptions = ds.crs, ds.count, list(ds.descriptions)
    except (RasterioError, OSError):
        raise InputError(f"{what} is not a readable GeoTIFF.",
                         "Upload the complete .tif file (a GeoTIFF saved by QGIS, GDAL or Earth Engine).") from None
    if crs is None:
        raise InputError(f"{what} has no coordinate reference system.",
                         "Save it with its coordinate system (e.g. its UTM zone) and upload it again.")
    if role == "dem_path":
        return
    bands = resolve_bands(path, descriptions, count)
    need = SPECTRAL_BANDS + ((ELEVATION,) if needs_elevation else ())
    lacking = [b for b in need if b not in bands]
    if lacking:
        named = ", ".join(d or f"#{i + 1} (no name)" for i, d in enumerate(descriptions))
        dem_hint = " Elevation can be a band named 'elevation' or the separate DEM upload." \
            if ELEVATION in lacking else ""
        raise InputError(
            f"{what} lacks the bands the model needs: {', '.join(lacking)} (its bands: {named}).",
            "Upload Sentinel-2 L1C with all of B1..B12 named in the band descriptions (B10 is not in L2A)."
            + dem_hint)


def extent_aoi(path: Path) -> dict:
    """The lon/lat outline of a checked GeoTIFF's extent, as an AOI polygon."""
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as ds:
        west, south, east, north = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    return {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                               [west, north], [west, south]]]}


def local_files() -> tuple[dict[str, Optional[str]], Optional[str]]:
    """Uploads of a 'before' and an 'after' scene GeoTIFF (and an optional DEM).

    Returns the paths of the usable files and the problem to show (None when both scenes are
    there and usable)."""
    ss = st.session_state
    st.markdown(t("monitor.local.title"))
    c1, c2, c3 = st.columns(3)
    uploads = {"pre_path": c1.file_uploader(t("monitor.local.pre"), type=["tif", "tiff"], key="w_local_pre"),
               "post_path": c2.file_uploader(t("monitor.local.post"), type=["tif", "tiff"], key="w_local_post"),
               "dem_path": c3.file_uploader(t("monitor.local.dem"), type=["tif", "tiff"], key="w_local_dem")}
    paths: dict[str, Optional[str]] = {k: None for k in uploads}
    problems = []
    for role, up in uploads.items():
        if up is None:
            continue
        path = save_upload(up.name, up.getvalue())
        try:
            check_scene_file(path, role, needs_elevation=uploads["dem_path"] is None)
        except UserError as exc:
            problems.append(error_text(exc))
            continue
        paths[role] = str(path)
    for problem in problems:
        st.error(problem, icon=":material/error:")
    if paths["post_path"]:
        # The analysis runs on the 'after' file's grid: its extent becomes the area (once per file).
        sig = state.signature(paths["post_path"])
        if ss.get("local_extent_seen") != sig:
            ss["local_extent_seen"] = sig
            state.set_aoi(extent_aoi(Path(paths["post_path"])),
                          t("monitor.label.extent", file=Path(paths["post_path"]).name))
            st.rerun()
    if not (paths["pre_path"] and paths["post_path"]):
        if not problems:
            st.info(t("monitor.local.hint"))
        return paths, problems[0] if problems else t("monitor.local.need_both")
    return paths, problems[0] if problems else None
