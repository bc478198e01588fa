"""The patch exporter: scene GeoTIFF + landslide polygons -> Landslide4Sense-layout patches.

For each window of a scene (by default the 128 px patches that tile it, centred: one for a
1500 m ROI, whose 1280 m centre is the thesis's area of analysis), it writes

- ``img/image_N.h5``: dataset 'img' (128, 128, 14) float32, the band contract applied to the
  scene (:func:`landslide_core.bands.to_model_input`, raw -> L4S units; non-finite -> 0;
  cloudy pixels keep their values, as in real Landslide4Sense patches), attribute 'bands';
- ``mask/mask_N.h5``: dataset 'mask' (128, 128) uint8, 1 where a pixel's centre lies inside
  a landslide polygon (the polygons rasterised on the scene's grid), else 0;

and, at :meth:`PatchExporter.finish`, ``manifest.json`` (every patch: its group, scene,
window, grid, landslide and not-valid pixel counts and whatever the caller records: ROI,
scene ids, dates, labeller, flags; and every excluded group with its reason) and
``split.json`` (train/validation by group, :mod:`landslide_core.patches.split`), which
training uses as the dataset's own split. Files are written under temporary names and
renamed; ``append=True`` adds to an existing export (numbering and earlier splits kept).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.windows import Window

from ..bands import ALL_BANDS, L4S_SCALE, to_model_input
from ..errors import InputError
from ..fileio import atomic_write_text, temp_path_for
from .split import SPLIT_FILE, assign_split, check_val_share, natural_key, now_iso

PATCH_PX = 128
MANIFEST_FILE = "manifest.json"
FORMAT = "landslide4sense"


def patch_windows(height: int, width: int, patch_px: int = PATCH_PX) -> list[Window]:
    """The patches that tile a scene of ``height`` x ``width`` px, centred in it (row by row)."""
    ny, nx = height // patch_px, width // patch_px
    if ny < 1 or nx < 1:
        raise InputError(f"The scene is {width} x {height} px, smaller than one {patch_px} px patch.",
                         f"Use ROIs of at least {patch_px * 10} m.")
    r0, c0 = (height - ny * patch_px) // 2, (width - nx * patch_px) // 2
    return [Window(c0 + i * patch_px, r0 + j * patch_px, patch_px, patch_px) for j in range(ny) for i in range(nx)]


def windows_around(features: Iterable[dict[str, Any]], transform: Affine, crs: Any, height: int, width: int,
                   patch_px: int = PATCH_PX, polygons_crs: Any = "EPSG:4326") -> list[Window]:
    """One patch per polygon, centred on it and moved inside the scene (for labels on a large
    scene, e.g. reviewed detections); polygons that fall in the same patch share it."""
    from rasterio.warp import transform_geom
    from shapely.geometry import shape

    if height < patch_px or width < patch_px:
        raise InputError(f"The scene is {width} x {height} px, smaller than one {patch_px} px patch.")
    src, dst = CRS.from_user_input(polygons_crs), CRS.from_user_input(crs)
    out: list[Window] = []
    for geom in _geometries(features):
        g = shape(transform_geom(src, dst, geom) if src != dst else geom)
        col, row = ~transform * (g.centroid.x, g.centroid.y)
        r0 = int(min(max(round(row - patch_px / 2), 0), height - patch_px))
        c0 = int(min(max(round(col - patch_px / 2), 0), width - patch_px))
        w = Window(c0, r0, patch_px, patch_px)
        if w not in out:
            out.append(w)
    return out


def scene_tiles(height: int, width: int, patch_px: int = PATCH_PX) -> list[Window]:
    """A fixed grid of patches over the whole scene: from the top-left corner every ``patch_px``,
    plus a last row and column flush with the scene's edges (overlapping their neighbours) so
    every pixel is in a patch. The same scene always gives the same grid."""
    if height < patch_px or width < patch_px:
        raise InputError(f"The scene is {width} x {height} px, smaller than one {patch_px} px patch.")

    def offsets(n: int) -> list[int]:
        out = list(range(0, n - patch_px + 1, patch_px))
        return out + [n - patch_px] if n % patch_px else out

    return [Window(c, r, patch_px, patch_px) for r in offsets(height) for c in offsets(width)]


def tiles_touching(features: Iterable[dict[str, Any]], transform: Affine, crs: Any, height: int, width: int,
                   patch_px: int = PATCH_PX, polygons_crs: Any = "EPSG:4326") -> list[Window]:
    """The patches of :func:`scene_tiles` that the polygons touch (every polygon wholly inside
    their union), in grid order; for labels on a large scene, e.g. reviewed detections."""
    from rasterio.warp import transform_geom
    from shapely import STRtree
    from shapely.geometry import box, shape

    src, dst = CRS.from_user_input(polygons_crs), CRS.from_user_input(crs)
    shapes = [shape(transform_geom(src, dst, g) if src != dst else g) for g in _geometries(features)]
    tiles = scene_tiles(height, width, patch_px)
    if not shapes:
        return []
    tree = STRtree(shapes)
    out = []
    for w in tiles:
        x0, y0 = transform * (w.col_off, w.row_off)
        x1, y1 = transform * (w.col_off + patch_px, w.row_off + patch_px)
        tile = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if any(shapes[i].intersection(tile).area > 0 for i in tree.query(tile)):
            out.append(w)
    return out


def _geometries(features: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for f in features or []:
        geom = f.get("geometry") if isinstance(f, dict) and f.get("type") == "Feature" else f
        if isinstance(geom, dict) and geom.get("type") in ("Polygon", "MultiPolygon"):
            out.append(geom)
        elif isinstance(geom, dict) and geom.get("type") is not None:
            raise InputError(f"A label is a {geom.get('type')}, not a polygon.", "Labels must be polygons.")
    return out


def polygon_mask(features: Iterable[dict[str, Any]], transform: Affine, shape: tuple[int, int], crs: Any,
                 polygons_crs: Any = "EPSG:4326") -> np.ndarray:
    """uint8 (rows, cols): 1 where a pixel's centre is inside one of the polygons (given in
    ``polygons_crs``, brought into the grid's ``crs``), else 0."""
    from rasterio.features import rasterize
    from rasterio.warp import transform_geom

    geoms = _geometries(features)
    if not geoms:
        return np.zeros(shape, np.uint8)
    src, dst = CRS.from_user_input(polygons_crs), CRS.from_user_input(crs)
    if src != dst:
        geoms = [transform_geom(src, dst, g) for g in geoms]
    return rasterize(((g, 1) for g in geoms), out_shape=shape, transform=transform, fill=0, dtype="uint8",
                     all_touched=False)


def _write_h5(path: Path, key: str, data: np.ndarray, bands: Optional[Iterable[str]] = None) -> None:
    import h5py

    tmp = temp_path_for(path)
    try:
        with h5py.File(tmp, "w") as f:
            ds = f.create_dataset(key, data=data)
            if bands is not None:
                ds.attrs["bands"] = np.array(list(bands), dtype="S")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, Path):
        return str(v)
    return v


class PatchExporter:
    """Writes Landslide4Sense-layout patches into ``out_dir`` (see the module docstring)."""

    def __init__(self, out_dir: str | Path, patch_px: int = PATCH_PX, append: bool = False,
                 description: Optional[dict[str, Any]] = None):
        from ..fileio import ensure_writable_folder

        self.out = Path(out_dir).expanduser()
        self.patch_px = int(patch_px)
        self.records: list[dict[str, Any]] = []
        self.excluded: list[dict[str, Any]] = []
        self.previous_split: dict[str, str] = {}
        self.description = dict(description or {})
        manifest = self.out / MANIFEST_FILE
        has_files = any((self.out / d).is_dir() and any((self.out / d).glob("*.h5")) for d in ("img", "mask"))
        if append and manifest.is_file():
            data = read_manifest(self.out)
            if int(data.get("patch_px", PATCH_PX)) != self.patch_px:
                raise InputError(f"{self.out} holds {data.get('patch_px')} px patches, not {self.patch_px} px.",
                                 "Export into a new folder.")
            self.records = list(data.get("patches") or [])
            self.excluded = list(data.get("excluded") or [])
            self.previous_split = {r["group"]: r["split"] for r in self.records if r.get("split")}
            self.description = {**data.get("description", {}), **self.description}
        elif has_files:
            raise InputError(f"{self.out} already holds Landslide4Sense files.",
                             "Export into a new or empty folder (or add to it: append).")
        ensure_writable_folder(self.out, "the export folder")
        (self.out / "img").mkdir(exist_ok=True)
        (self.out / "mask").mkdir(exist_ok=True)
        self._next = 1 + max((int(str(r["name"]).rsplit("_", 1)[-1]) for r in self.records), default=0)

    # ---------------------------------------------------------------- adding
    def add(self, scene_path: str | Path, features: Iterable[dict[str, Any]], group: str,
            meta: Optional[dict[str, Any]] = None, windows: Optional[list[Window]] = None,
            polygons_crs: Any = "EPSG:4326", negatives: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        """Write the patches of one scene and its polygons; return their manifest records.

        ``group``: what the split keeps together (an ROI id, a reviewed scene); ``meta``: what
        the manifest says about these patches (ROI, scene ids, dates, labeller, flags, ...).
        ``negatives``: polygons known not to be landslides (rejected detections): mask 0, and
        their pixels counted in each record's ``negative_px``.
        A group added again replaces its earlier patches' records (their files are rewritten).
        """
        from ..scene import SceneReader

        features = list(features or [])
        negatives = list(negatives or [])
        group = str(group)
        with SceneReader(scene_path) as reader:
            windows = windows if windows is not None else patch_windows(reader.height, reader.width, self.patch_px)
            reused = [r for r in self.records if r.get("group") == group]
            self.records = [r for r in self.records if r.get("group") != group]
            self.excluded = [e for e in self.excluded if e.get("group") != group]
            names = [r["name"] for r in sorted(reused, key=lambda r: natural_key(r["name"]))]
            out = []
            for k, win in enumerate(windows):
                win = win.round_offsets().round_lengths()
                if int(win.width) != self.patch_px or int(win.height) != self.patch_px:
                    raise InputError(f"A window of {int(win.width)} x {int(win.height)} px is not a "
                                     f"{self.patch_px} px patch.")
                r0, c0 = int(win.row_off), int(win.col_off)
                if r0 < 0 or c0 < 0 or r0 + self.patch_px > reader.height or c0 + self.patch_px > reader.width:
                    raise InputError(f"The patch at row {r0}, column {c0} lies outside the scene "
                                     f"({reader.width} x {reader.height} px).")
                stack, valid = reader.read(win)
                x, _finite = to_model_input(stack, ALL_BANDS, ALL_BANDS, units="raw")
                img = np.ascontiguousarray(np.moveaxis(x, 0, -1), dtype=np.float32)
                t = reader.transform * Affine.translation(c0, r0)
                shape = (self.patch_px, self.patch_px)
                mask = np.ascontiguousarray(polygon_mask(features, t, shape, reader.crs, polygons_crs))
                extra = {}
                if negatives:
                    neg = polygon_mask(negatives, t, shape, reader.crs, polygons_crs)
                    extra["negative_px"] = int(((neg > 0) & (mask == 0)).sum())
                if k < len(names):
                    name = names[k]
                else:
                    name = f"image_{self._next}"
                    self._next += 1
                number = name.rsplit("_", 1)[-1]
                _write_h5(self.out / "img" / f"image_{number}.h5", "img", img, ALL_BANDS)
                _write_h5(self.out / "mask" / f"mask_{number}.h5", "mask", mask)
                out.append(_jsonable({
                    "name": name, "image": f"img/image_{number}.h5", "mask": f"mask/mask_{number}.h5",
                    "group": group, "scene": str(Path(scene_path)),
                    "window": {"row": r0, "col": c0, "height": self.patch_px, "width": self.patch_px},
                    "crs": reader.crs.to_string(), "transform": list(t)[:6],
                    "landslide_px": int(mask.sum()), "invalid_px": int((~valid).sum()),
                    "polygons": len(features), **extra, **(meta or {}),
                }))
            for stale in names[len(windows):]:  # the group now has fewer patches
                number = stale.rsplit("_", 1)[-1]
                (self.out / "img" / f"image_{number}.h5").unlink(missing_ok=True)
                (self.out / "mask" / f"mask_{number}.h5").unlink(missing_ok=True)
        self.records.extend(out)
        return out

    def exclude(self, group: str, reason: str, meta: Optional[dict[str, Any]] = None) -> None:
        """Record that a group stays out (and remove its patches if an earlier export had it)."""
        self.remove(group)
        self.excluded.append(_jsonable({"group": str(group), "reason": reason, **(meta or {})}))

    def remove(self, group: str) -> int:
        """Remove a group's patches (files and records; e.g. labels taken back); return how many."""
        group = str(group)
        gone = [r for r in self.records if r.get("group") == group]
        for r in gone:
            (self.out / r["image"]).unlink(missing_ok=True)
            (self.out / r["mask"]).unlink(missing_ok=True)
        self.records = [r for r in self.records if r.get("group") != group]
        self.excluded = [e for e in self.excluded if e.get("group") != group]
        return len(gone)

    # ---------------------------------------------------------------- finishing
    def finish(self, val_share: float = 0.2, seed: int = 0) -> dict[str, Any]:
        """Assign the split, write ``split.json`` and ``manifest.json``; return the manifest."""
        share = check_val_share(val_share)
        if not self.records:
            raise InputError("No patch was exported: every group was excluded or none was given.",
                             "Label (and accept) at least one ROI without a quality flag.")
        groups = sorted({r["group"] for r in self.records})
        fresh = assign_split(groups, share, seed)
        side = {g: self.previous_split.get(g, fresh[g]) for g in groups}
        if len(groups) >= 2 and len(set(side.values())) < 2:  # appended groups all fell on one side
            side = fresh
        for r in self.records:
            r["split"] = side[r["group"]]
        self.records.sort(key=lambda r: natural_key(r["name"]))
        split = {"train": [r["name"] for r in self.records if r["split"] == "train"],
                 "val": [r["name"] for r in self.records if r["split"] == "val"],
                 "how": f"by group (hash of the group name, seed {seed}), validation share {share}"}
        atomic_write_text(self.out / SPLIT_FILE, json.dumps(split, indent=1))
        pos = sum(r["landslide_px"] for r in self.records)
        total = len(self.records) * self.patch_px ** 2
        manifest = {
            "format": FORMAT, "patch_px": self.patch_px, "bands": list(ALL_BANDS),
            "units": "L4S: raw / L4S_SCALE (B1..B12 digital numbers, slope in degrees, elevation in metres)",
            "l4s_scale": [float(v) for v in L4S_SCALE],
            "mask": "1 = the pixel centre lies inside a labelled landslide polygon, 0 otherwise",
            "split": {"val_share": share, "seed": int(seed), "file": SPLIT_FILE,
                      "train": len(split["train"]), "val": len(split["val"])},
            "landslide_share": round(pos / total, 6) if total else 0.0,
            "description": self.description,
            "patches": self.records, "excluded": sorted(self.excluded, key=lambda e: str(e.get("group"))),
        }
        manifest["written_utc"] = now_iso()
        atomic_write_text(self.out / MANIFEST_FILE, json.dumps(_jsonable(manifest), indent=1))
        return manifest


def read_manifest(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise InputError(f"{path} is damaged ({exc}).", "Export the dataset again.") from None
    if not isinstance(data, dict) or not isinstance(data.get("patches", []), list):
        raise InputError(f"{path} is not a patch manifest.", "Export the dataset again.")
    return data


def landslide_share(manifest: dict[str, Any]) -> float:
    """Share of landslide pixels over all patches of a manifest."""
    px = int(manifest.get("patch_px", PATCH_PX)) ** 2
    recs = manifest.get("patches") or []
    return sum(r.get("landslide_px", 0) for r in recs) / (px * len(recs)) if recs else math.nan
