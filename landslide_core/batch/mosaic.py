"""A zone read across its tiles' files, and the mosaics written from them.

:class:`ZoneReader` reads any window of a zone as if one run had covered the whole zone:

- probabilities: the tiles' weighted sums and weights (``accum_*.tif``) are added up and
  divided, so each pixel is blended from the same windows with the same weights as in one
  run (only the order of the additions differs where two tiles' windows overlap: a few units
  in the last place of float32);
- evidence (NDVI, brightness, slope, elevation): read from the tile whose core holds the pixel.

Pixels of tiles that are not finished read as NaN (not assessable). Memory: the window.

:func:`write_vrt` lays tile files side by side in a GDAL VRT (no pixel copied), from which the
Cloud-Optimized mosaics are written by :mod:`landslide_core.exports`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Optional
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from rasterio.windows import Window

from ..evidence import EVIDENCE_BANDS
from ..grid import Grid
from .layout import BatchLayout
from .tiling import BatchPlan, PixelWindow, Tile


class ZoneReader:
    """Windows of one zone's probabilities and evidence, read from its finished tiles."""

    def __init__(self, layout: BatchLayout, plan: BatchPlan, zone_id: str, finished: Callable[[Tile], bool]):
        """``finished(tile)``: whether a tile's files are complete (asked once per tile, and
        only for tiles a read touches)."""
        self.layout, self.plan = layout, plan
        self.zone = plan.zone(zone_id)
        self._finished = finished
        self._known: dict[str, bool] = {}
        self.tiles = sorted(plan.tiles_of(zone_id), key=lambda t: t.id)

    def _ready(self, tile: Tile) -> bool:
        if tile.id not in self._known:
            self._known[tile.id] = bool(self._finished(tile))
        return self._known[tile.id]

    def probability(self, window: PixelWindow, which: str) -> np.ndarray:
        """Probability (float32, NaN = not assessable) of ``which`` date ('pre' or 'post')."""
        acc = np.zeros((window.height, window.width), np.float32)
        wsum = np.zeros((window.height, window.width), np.float32)
        for tile in self.tiles:
            part = tile.extent.intersection(window)
            if part.empty or not self._ready(tile):
                continue
            with rasterio.open(self.layout.accum(tile.zone, tile.id, which)) as ds:
                win = Window(part.col0 - tile.fetch.col0, part.row0 - tile.fetch.row0, part.width, part.height)
                num, den = ds.read((1, 2), window=win)
            sl = part.slices_in(window)
            acc[sl] += num
            wsum[sl] += den
        with np.errstate(invalid="ignore", divide="ignore"):
            prob = acc / wsum
        prob[~(wsum > 0)] = np.nan
        return prob

    def evidence(self, window: PixelWindow) -> dict[str, np.ndarray]:
        """The evidence bands (:data:`landslide_core.evidence.EVIDENCE_BANDS`), NaN where no tile."""
        out = {name: np.full((window.height, window.width), np.nan, np.float32) for name in EVIDENCE_BANDS}
        for tile in self.tiles:
            part = tile.core.intersection(window)
            if part.empty or not self._ready(tile):
                continue
            with rasterio.open(self.layout.evidence(tile.zone, tile.id)) as ds:
                names = [d or "" for d in ds.descriptions]
                win = Window(part.col0 - tile.core.col0, part.row0 - tile.core.row0, part.width, part.height)
                data = ds.read(window=win, out_dtype="float32")
            sl = part.slices_in(window)
            for k, name in enumerate(names):
                if name in out:
                    out[name][sl] = data[k]
        return out


def write_vrt(path: str | Path, grid: Grid, sources: list[tuple[Path, PixelWindow]], dtype: str,
              nodata: Optional[float], description: str = "") -> Path:
    """A one-band GDAL VRT on ``grid`` placing each source file (band 1) at its window
    (pixels of ``grid``); areas without a source are nodata."""
    path = Path(path)
    gdal_type = {"float32": "Float32", "uint8": "Byte"}[dtype]
    t = grid.transform
    parts = [f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">',
             f'  <SRS dataAxisToSRSAxisMapping="1,2">{escape(grid.crs.to_wkt())}</SRS>',
             f"  <GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>",
             f'  <VRTRasterBand dataType="{gdal_type}" band="1">']
    if description:
        parts.append(f"    <Description>{escape(description)}</Description>")
    if nodata is not None:
        parts.append(f"    <NoDataValue>{'nan' if np.isnan(nodata) else repr(nodata)}</NoDataValue>")
    for src, win in sources:
        parts += ["    <SimpleSource>",
                  f'      <SourceFilename relativeToVRT="0">{escape(str(Path(src).resolve()))}</SourceFilename>',
                  "      <SourceBand>1</SourceBand>",
                  f'      <SrcRect xOff="0" yOff="0" xSize="{win.width}" ySize="{win.height}"/>',
                  f'      <DstRect xOff="{win.col0}" yOff="{win.row0}" xSize="{win.width}" ySize="{win.height}"/>',
                  "    </SimpleSource>"]
    parts += ["  </VRTRasterBand>", "</VRTDataset>"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def covering_window(windows: Iterable[PixelWindow]) -> PixelWindow:
    windows = list(windows)
    return PixelWindow(min(w.row0 for w in windows), max(w.row1 for w in windows),
                       min(w.col0 for w in windows), max(w.col1 for w in windows))


__all__ = ["ZoneReader", "covering_window", "write_vrt"]
