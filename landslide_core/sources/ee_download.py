"""Download an Earth Engine image on a grid with ``ee.data.computePixels``, in tiles.

Earth Engine refuses a ``computePixels`` request whose *total request size* is over
50,331,648 bytes (48 MiB) or whose grid is over 32768 px on a side. The size is counted as
the service counts it (``ImageUtils.enforceRequestedSizeLimits``): for every band, its data
bytes **plus one mask byte** per pixel, so 14 float32 bands cost 70 bytes a pixel, not 56.
:func:`plan_chunks` splits the grid into even tiles under both limits, counted that way.

:func:`download_pixels` fetches the tiles with a bounded thread pool, retries busy or failed
requests with backoff (:mod:`.retry`, the only retry layer: the library's own retries are
switched off at sign-in), splits a tile in four when Earth Engine says it is too big or runs
out of memory, reports progress per tile, and stops promptly when cancelled (it does not wait
for requests in flight). Tiles are reassembled, bit for bit, into one (bands, rows, cols)
float32 array; integer bands (uint16 digital numbers) convert to float32 exactly.
"""
from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from ..errors import Cancelled, SourceError
from ..grid import Grid
from ..progress import CancelToken, LinkedCancelToken, ProgressFn, check_cancel
from .retry import NeedsSplit, RetryPolicy, RetryStats, call_with_retry

log = logging.getLogger(__name__)

#: The service's request limit (bytes, data plus one mask byte per band-pixel) and side limit.
MAX_REQUEST_BYTES = 50_331_648
MAX_SIDE_PX = 32768
#: One mask byte per band-pixel, counted by the service on top of the data bytes.
MASK_BYTES = 1
#: Bytes per value of the pixel types a request may ask for.
DTYPE_BYTES = {"uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "uint32": 4, "int32": 4,
               "float32": 4, "float64": 8}
#: How many times a tile may be split in four after "too big" or "out of memory".
MAX_SPLIT_DEPTH = 3
DEFAULT_WORKERS = 4

ComputeFn = Callable[[dict], Any]


@dataclass(frozen=True)
class BandSpec:
    """A band to download and its pixel type on the wire (``uint16``, ``float32``...)."""

    name: str
    dtype: str = "float32"

    def __post_init__(self):
        if self.dtype not in DTYPE_BYTES:
            raise ValueError(f"unknown pixel type {self.dtype!r}; use one of {sorted(DTYPE_BYTES)}")


BandsLike = Sequence[Union[BandSpec, str]]


def as_specs(bands: BandsLike) -> tuple[BandSpec, ...]:
    """BandSpecs from specs or plain names (a plain name is float32)."""
    return tuple(b if isinstance(b, BandSpec) else BandSpec(str(b)) for b in bands)


def bytes_per_pixel(dtypes: Sequence[str]) -> int:
    """The service's count for one pixel of these bands: data bytes plus a mask byte each."""
    return sum(DTYPE_BYTES[d] + MASK_BYTES for d in dtypes)


def request_bytes(width: int, height: int, dtypes: Sequence[str]) -> int:
    """The total request size Earth Engine counts for a width x height tile of these bands."""
    return int(width) * int(height) * bytes_per_pixel(dtypes)


def payload_bytes(width: int, height: int, dtypes: Sequence[str]) -> int:
    """The pixel bytes that come back (no mask bytes on the wire)."""
    return int(width) * int(height) * sum(DTYPE_BYTES[d] for d in dtypes)


@dataclass(frozen=True)
class Chunk:
    """A tile of the grid, in pixels: column/row offset and size."""

    col: int
    row: int
    width: int
    height: int

    def nbytes(self, dtypes: Sequence[str]) -> int:
        """The request size the service counts for this tile (see :func:`request_bytes`)."""
        return request_bytes(self.width, self.height, dtypes)

    def quarters(self) -> list["Chunk"]:
        w1, h1 = max(self.width // 2, 1), max(self.height // 2, 1)
        parts = [Chunk(self.col, self.row, w1, h1), Chunk(self.col + w1, self.row, self.width - w1, h1),
                 Chunk(self.col, self.row + h1, w1, self.height - h1),
                 Chunk(self.col + w1, self.row + h1, self.width - w1, self.height - h1)]
        return [p for p in parts if p.width > 0 and p.height > 0]


def plan_chunks(width: int, height: int, dtypes: Sequence[str], max_bytes: int = MAX_REQUEST_BYTES,
                max_side_px: int = MAX_SIDE_PX) -> list[Chunk]:
    """Even tiles covering width x height, each at most ``max_bytes`` as the service counts
    them (:func:`request_bytes`) and at most ``max_side_px`` on a side."""
    dtypes = list(dtypes)
    if width <= 0 or height <= 0 or not dtypes:
        raise ValueError("grid and band list must not be empty")
    budget_px = max_bytes // bytes_per_pixel(dtypes)
    if budget_px < 1:
        raise SourceError(f"{len(dtypes)} bands are too many for one request.", "Ask for fewer bands.")
    if width * height <= budget_px and max(width, height) <= max_side_px:
        return [Chunk(0, 0, width, height)]
    side = max(1, min(int(math.isqrt(budget_px)), max_side_px))
    n_cols = math.ceil(width / side)
    n_rows = math.ceil(height / side)
    while True:  # even tiles; grow the count until every tile fits
        tw, th = math.ceil(width / n_cols), math.ceil(height / n_rows)
        if tw * th <= budget_px and tw <= max_side_px and th <= max_side_px:
            break
        if tw >= th:
            n_cols += 1
        else:
            n_rows += 1
    chunks = []
    for r in range(n_rows):
        r0, r1 = r * th, min((r + 1) * th, height)
        for c in range(n_cols):
            c0, c1 = c * tw, min((c + 1) * tw, width)
            if r1 > r0 and c1 > c0:
                chunks.append(Chunk(c0, r0, c1 - c0, r1 - r0))
    return chunks


def chunk_pixel_grid(grid: Grid, chunk: Chunk) -> dict:
    """The computePixels ``grid`` (PixelGrid) of one tile: CRS, affine transform, dimensions."""
    t = grid.transform
    x0 = t.c + chunk.col * t.a + chunk.row * t.b
    y0 = t.f + chunk.col * t.d + chunk.row * t.e
    return {
        "dimensions": {"width": chunk.width, "height": chunk.height},
        "affineTransform": {"scaleX": t.a, "shearX": t.b, "translateX": x0,
                            "shearY": t.d, "scaleY": t.e, "translateY": y0},
        "crsCode": grid.crs.to_string(),
    }


def to_band_array(data: Any, band_names: Sequence[str], chunk: Chunk) -> np.ndarray:
    """A computePixels NUMPY_NDARRAY answer (structured (h, w)) -> float32 (bands, h, w)."""
    arr = np.asarray(data)
    if arr.dtype.names:
        missing = [b for b in band_names if b not in arr.dtype.names]
        if missing:
            raise SourceError(f"Earth Engine returned no {', '.join(missing)} band(s).",
                              "This is a bug in the request: please report it.")
        out = np.stack([arr[b].astype(np.float32, copy=False) for b in band_names])
    elif arr.ndim == 3 and arr.shape[-1] == len(band_names):
        out = np.moveaxis(arr, -1, 0).astype(np.float32, copy=False)
    else:
        raise SourceError(f"Earth Engine returned an array of shape {arr.shape}.",
                          "This is a bug in the request: please report it.")
    if out.shape[1:] != (chunk.height, chunk.width):
        raise SourceError(f"Earth Engine returned a {out.shape[2]}x{out.shape[1]} tile for a "
                          f"{chunk.width}x{chunk.height} request.", "Try again; if it repeats, report it.")
    return out


@dataclass
class DownloadStats:
    chunks: int = 0      # tiles planned
    requests: int = 0    # computePixels calls made (retries and split pieces included)
    retries: int = 0
    splits: int = 0
    bytes: int = 0       # pixel bytes received


def download_pixels(compute: ComputeFn, grid: Grid, bands: BandsLike, *,
                    max_workers: int = DEFAULT_WORKERS, policy: Optional[RetryPolicy] = None,
                    progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                    max_bytes: int = MAX_REQUEST_BYTES, stats: Optional[DownloadStats] = None) -> np.ndarray:
    """Fetch ``bands`` on ``grid`` tile by tile; ``compute(pixel_grid) -> array``.

    Returns float32 (bands, rows, cols). Raises :class:`Cancelled` within a fraction of a
    second of ``cancel`` (requests in flight are abandoned, not awaited), and
    :class:`SourceError` naming the cause when a tile cannot be had.
    """
    policy = policy or RetryPolicy()
    stats = stats if stats is not None else DownloadStats()
    specs = as_specs(bands)
    names = [b.name for b in specs]
    dtypes = [b.dtype for b in specs]
    chunks = plan_chunks(grid.width, grid.height, dtypes, max_bytes)
    stats.chunks = len(chunks)
    out = np.empty((len(specs), grid.height, grid.width), dtype=np.float32)
    lock = threading.Lock()
    stop = LinkedCancelToken(cancel)  # the user's cancel, or another tile's failure

    def fetch(chunk: Chunk, depth: int = 0) -> None:
        check_cancel(stop)
        rs = RetryStats()
        what = f"Earth Engine download of tile {chunk.width}x{chunk.height} px at ({chunk.col}, {chunk.row})"
        try:
            data = call_with_retry(lambda: compute(chunk_pixel_grid(grid, chunk)), policy, what, rs, stop)
        except NeedsSplit as exc:
            if depth >= MAX_SPLIT_DEPTH or chunk.width < 2 or chunk.height < 2:
                raise SourceError(f"{what} failed: {exc.cause}, even in small pieces.",
                                  "Choose a smaller area or a shorter date window (fewer scenes "
                                  "in the median).") from None
            with lock:
                stats.splits += 1
            log.info("%s: %s; splitting it in four", what, exc.cause)
            for part in chunk.quarters():
                fetch(part, depth + 1)
            return
        finally:
            with lock:
                stats.requests += rs.calls
                stats.retries += rs.retries
        check_cancel(stop)
        block = to_band_array(data, names, chunk)
        with lock:
            stats.bytes += int(getattr(np.asarray(data), "nbytes", 0))
        out[:, chunk.row:chunk.row + chunk.height, chunk.col:chunk.col + chunk.width] = block

    done = 0
    if progress:
        progress(0, len(chunks), "download")
    pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(chunks))),
                              thread_name_prefix="ee-download")
    try:
        pending = {pool.submit(fetch, c) for c in chunks}
        while pending:
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for fut in finished:
                fut.result()  # re-raises the tile's error
                done += 1
                if progress:
                    progress(done, len(chunks), "download")
            if cancel is not None and cancel.cancelled:
                raise Cancelled(f"Download cancelled after {done} of {len(chunks)} tiles.")
    except BaseException:
        stop.cancel()  # workers stop at their next check; requests in flight are abandoned
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


def ee_compute_fn(expression: Any, bands: BandsLike) -> ComputeFn:
    """``compute(pixel_grid)`` calling ``ee.data.computePixels`` for ``expression``."""
    names = [b.name for b in as_specs(bands)]

    def compute(pixel_grid: dict) -> Any:
        import ee

        return ee.data.computePixels({"expression": expression, "fileFormat": "NUMPY_NDARRAY",
                                      "bandIds": names, "grid": pixel_grid})

    return compute
