"""Earth Engine: Sentinel-2 L1C and a DEM for any area and dates, on the request's grid.

Imagery: ``COPERNICUS/S2_HARMONIZED`` (Sentinel-2 MSI Level-1C, top-of-atmosphere), the 12
bands B1..B12 (B8A left out, as in Landslide4Sense), filtered by the AOI, the window and the
scene's ``CLOUDY_PIXEL_PERCENTAGE`` <= the cloud limit.

What "harmonized" changes: from processing baseline 04.00 (in use since 25 January 2022) ESA
adds an offset of 1000 to every L1C digital number (so dark pixels are no longer clipped at
0). ``COPERNICUS/S2`` keeps the offset, so values jump by 1000 across January 2022;
``COPERNICUS/S2_HARMONIZED`` shifts scenes with ``PROCESSING_BASELINE`` 04.00 or later back
by subtracting it, into the same range as older scenes (EE data catalog: "shifts data with
PROCESSING_BASELINE '04.00' or above (after 2022-01-25) to be in the same range as in older
scenes"). Values are therefore comparable before and after 2022, and the Landslide4Sense
scaling (raw DN / per-band vector, fitted on pre-2022 L1C) stays valid for new scenes.

Clouds: per-pixel probability from ``COPERNICUS/S2_CLOUD_PROBABILITY`` (s2cloudless), joined
by ``system:index``, cloud where probability > the threshold (default 40 %). Cloud shadows
are estimated by projecting the clouds away from the sun (direction from
``MEAN_SOLAR_AZIMUTH_ANGLE``, up to ``shadow_distance_km``) and keeping the dark NIR pixels
(B8 < 0.15 reflectance) there. One measure, ``clear`` (data, no cloud, no shadow), serves both
the listing (its "cloud over the area" is the share of the covered AOI that is cloud or shadow)
and the composite (its mask), and the composite uses exactly the listed scenes the choice
kept: the least cloudy date inside the AOI (granules of that date mosaicked), or a masked
median of the listed scenes under the limit. A window with more granules than the listing
holds is refused with a message rather than cut silently.

Elevation: ``COPERNICUS/DEM/GLO30`` (band ``DEM``) by default, ``JAXA/ALOS/AW3D30/V3_2``
(band ``DSM``) as an option; bilinear resampling; the tiles are those under the whole
analysis grid (not only the AOI polygon). Where the DEM is masked (voids, no tile) the
elevation is NaN in the scene, so slope is not made up from a fill value and those pixels are
not valid.

Download: everything is computed on the request's grid (UTM zone, 10 m) by passing the grid's
CRS, affine transform and dimensions to ``ee.data.computePixels`` (see :mod:`.ee_download`):
the 12 optical bands as uint16 digital numbers (3 bytes a pixel with the service's mask byte,
instead of 5 as float32), elevation as float32, and one uint8 ``flags`` band (bit 0: clear,
bit 1: elevation present). Slope is computed later by the band contract, the same way for
every source.
"""
from __future__ import annotations

import datetime
import logging
from typing import Any, Optional

import numpy as np

from ..bands import ELEVATION, SPECTRAL_BANDS
from ..errors import SourceError
from ..progress import CancelToken, ProgressFn, check_cancel
from ..scene import RawScene
from .aoi import MAX_AOI_KM2
from .base import FetchedScene, Readiness, SceneListing
from .cache import SceneCache, scene_key
from .ee_auth import AuthConfig, find_config
from .ee_download import DEFAULT_WORKERS, BandSpec, DownloadStats, download_pixels, ee_compute_fn
from .ee_signin import initialize, self_test
from .request import AnalysisRequest, DateWindow
from .retry import RetryPolicy, RetryStats, call_with_retry
from .selection import choose_least_cloudy, group_by_date, no_scene_error, under_limit

log = logging.getLogger(__name__)

S2_COLLECTION = "COPERNICUS/S2_HARMONIZED"
CLOUD_PROBABILITY_COLLECTION = "COPERNICUS/S2_CLOUD_PROBABILITY"
#: DEM choices: name -> (collection, band).
DEMS = {"glo30": ("COPERNICUS/DEM/GLO30", "DEM"), "aw3d30": ("JAXA/ALOS/AW3D30/V3_2", "DSM")}
S2_BANDS = SPECTRAL_BANDS
#: The downloaded band holding bit 0 = clear (data, no cloud or shadow), bit 1 = elevation present.
FLAGS = "flags"
CLEAR_BIT, DEM_BIT = 1, 2
#: Wire types the optical bands may be downloaded as (uint16 holds every L1C digital number).
OPTICAL_DTYPES = ("uint16", "float32")
MAX_LISTED_SCENES = 200
#: A window ending this recently may still gain scenes; its cache entry lasts one day.
RECENT_DAYS = 5


def download_bands(optical_dtype: str = "uint16") -> tuple[BandSpec, ...]:
    """What one computePixels request asks for: B1..B12, elevation (float32), flags (uint8).
    ``float32`` is the old wire format (every band float32), kept for comparison."""
    flags_dtype = "uint8" if optical_dtype == "uint16" else "float32"
    return (tuple(BandSpec(b, optical_dtype) for b in S2_BANDS)
            + (BandSpec(ELEVATION, "float32"), BandSpec(FLAGS, flags_dtype)))


DOWNLOAD_BANDS = download_bands()


class EarthEngineSource:
    """Sentinel-2 L1C + DEM from Google Earth Engine."""

    name = "earthengine"
    version = "2"

    def __init__(self, cache: Optional[SceneCache] = None, cloud_probability_threshold_pct: float = 40.0,
                 dem: str = "glo30", max_workers: int = DEFAULT_WORKERS,
                 retry_policy: Optional[RetryPolicy] = None, auth_config: Optional[AuthConfig] = None,
                 listing_scale_m: float = 60.0, shadow_distance_km: float = 1.0,
                 nir_dark_threshold: float = 0.15, max_area_km2: float = MAX_AOI_KM2,
                 optical_dtype: str = "uint16", http_transport: Any = None):
        """``http_transport``: an httplib2-style object for every request of the client library
        (``ee.Initialize(http_transport=...)``): a proxy, custom certificates, or a test router.
        ``optical_dtype``: ``uint16`` (default) or ``float32`` (the old, larger wire format)."""
        if dem not in DEMS:
            raise SourceError(f"Unknown DEM '{dem}'.", f"Use one of: {', '.join(DEMS)}.")
        if not 0 <= cloud_probability_threshold_pct <= 100:
            raise SourceError(f"The cloud probability threshold {cloud_probability_threshold_pct} is "
                              "outside 0-100 %.", "Use a value such as 40.")
        if optical_dtype not in OPTICAL_DTYPES:
            raise SourceError(f"Unknown optical pixel type '{optical_dtype}'.",
                              f"Use one of: {', '.join(OPTICAL_DTYPES)}.")
        self.cache = cache if cache is not None else SceneCache()
        self.cloud_threshold = float(cloud_probability_threshold_pct)
        self.dem = dem
        self.max_workers = max_workers
        self.retry_policy = retry_policy or RetryPolicy()
        self._auth_config = auth_config
        self.listing_scale_m = listing_scale_m
        self.shadow_distance_km = shadow_distance_km
        self.nir_dark_threshold = nir_dark_threshold
        self.max_area_km2 = max_area_km2
        self.optical_dtype = optical_dtype
        self.http_transport = http_transport
        self.last_download_stats: Optional[DownloadStats] = None

    # --- sign-in -----------------------------------------------------------------------------
    @property
    def auth_config(self) -> AuthConfig:
        if self._auth_config is None:
            self._auth_config = find_config()
        return self._auth_config

    def readiness(self, connect: bool = True) -> Readiness:
        return self_test(self.auth_config, connect=connect, http_transport=self.http_transport)

    def self_test(self, connect: bool = True) -> Readiness:
        """What is missing to use Earth Engine, and how to fix it (same as readiness)."""
        return self.readiness(connect)

    def _ee(self, cancel: Optional[CancelToken] = None):
        initialize(self.auth_config, http_transport=self.http_transport, cancel=cancel)
        import ee

        return ee

    # --- expressions -------------------------------------------------------------------------
    def _geometry(self, ee, request: AnalysisRequest):
        return ee.Geometry(request.aoi)

    @staticmethod
    def _grid_region(ee, request: AnalysisRequest):
        """The whole analysis grid as a rectangle in its own CRS (for the DEM tiles)."""
        left, bottom, right, top = request.grid().bounds
        return ee.Geometry.Rectangle([left, bottom, right, top], request.grid().crs.to_string(), False)

    @staticmethod
    def _dates(window: DateWindow) -> tuple[str, str]:
        """EE filterDate range: start inclusive, end exclusive (the day after the window)."""
        return window.start.isoformat(), (window.end + datetime.timedelta(days=1)).isoformat()

    def s2_collection(self, ee, geom, window: DateWindow):
        """Granules of the window over the AOI, each with its cloud probability image joined."""
        start, end = self._dates(window)
        s2 = ee.ImageCollection(S2_COLLECTION).filterBounds(geom).filterDate(start, end)
        probability = ee.ImageCollection(CLOUD_PROBABILITY_COLLECTION).filterBounds(geom).filterDate(start, end)
        joined = ee.Join.saveFirst("cloud_probability").apply(
            primary=s2, secondary=probability,
            condition=ee.Filter.equals(leftField="system:index", rightField="system:index"))
        return ee.ImageCollection(joined).sort("system:time_start")

    def _cloud(self, ee, img):
        return ee.Image(img.get("cloud_probability")).select("probability").gt(self.cloud_threshold)

    def add_clear_band(self, ee, img):
        """Add band ``clear``: 1 where not cloud and not cloud shadow, 0 where cloud or shadow,
        masked where the granule has no data (so a mosaic takes it from the granule that has)."""
        cloud = self._cloud(ee, img)
        dark_nir = img.select("B8").lt(self.nir_dark_threshold * 1e4)
        shadow_azimuth = ee.Number(90).subtract(ee.Number(img.get("MEAN_SOLAR_AZIMUTH_ANGLE")))
        projected = (cloud.directionalDistanceTransform(shadow_azimuth, self.shadow_distance_km * 10)
                     .reproject(crs=img.select(0).projection(), scale=100)
                     .select("distance").mask())
        shadow = projected.multiply(dark_nir)
        has_data = img.select("B2").mask().gt(0)
        clear = cloud.Or(shadow).Not().updateMask(has_data).rename("clear")
        return img.addBands(clear)

    def elevation_image(self, ee, region):
        """The DEM mosaic over ``region`` in metres (masked where the DEM has no value)."""
        collection, band = DEMS[self.dem]
        return (ee.ImageCollection(collection).filterBounds(region).select(band)
                .map(lambda im: im.resample("bilinear")).mosaic()
                .rename(ELEVATION))

    # --- listing -----------------------------------------------------------------------------
    def list_scenes(self, request: AnalysisRequest, window: DateWindow,
                    cancel: Optional[CancelToken] = None, stats: Optional[RetryStats] = None) -> list[SceneListing]:
        """Every granule over the AOI in the window, whatever its cloud cover (fetch applies the
        limit): date, id, scene cloud %, cloud-and-shadow % inside the AOI (the composite's own
        ``clear`` measure), share of the AOI covered."""
        ee = self._ee(cancel)
        geom = self._geometry(ee, request)
        scale = self.listing_scale_m

        def stats_of(img):
            img = self.add_clear_band(ee, img)
            covered = img.select("B2").mask().gt(0)
            means = ee.Image.cat([img.select("clear").updateMask(covered).rename("clear"),
                                  covered.unmask(0).rename("covered")]).reduceRegion(
                reducer=ee.Reducer.mean(), geometry=geom, scale=scale, maxPixels=1e9, bestEffort=True)
            return ee.Feature(None, {"scene_id": img.get("system:index"),
                                     "time_ms": img.get("system:time_start"),
                                     "scene_cloud_pct": img.get("CLOUDY_PIXEL_PERCENTAGE"),
                                     "aoi_clear": means.get("clear"), "aoi_covered": means.get("covered")})

        features = ee.FeatureCollection(
            self.s2_collection(ee, geom, window).limit(MAX_LISTED_SCENES + 1).map(stats_of))
        info = call_with_retry(features.getInfo, self.retry_policy,
                               f"Listing Sentinel-2 scenes from {window.start} to {window.end}", stats, cancel)
        listings = parse_listing(info)
        if len(listings) > MAX_LISTED_SCENES:
            raise SourceError(
                f"The window {window} holds more than {MAX_LISTED_SCENES} Sentinel-2 granules over the "
                "area; a window is listed, and chosen from, whole.",
                "Shorten the date window (a month or two is plenty: Sentinel-2 passes every 5 days).")
        return listings

    # --- fetching ----------------------------------------------------------------------------
    def cache_key(self, request: AnalysisRequest, window: DateWindow) -> str:
        fields = request.normalised()
        fields = {k: fields[k] for k in ("aoi", "cloud_limit_pct", "composite")}
        extra = {"cloud_threshold": self.cloud_threshold, "dem": self.dem,
                 "shadow_km": self.shadow_distance_km, "nir_dark": self.nir_dark_threshold}
        today = datetime.date.today()
        if window.end >= today - datetime.timedelta(days=RECENT_DAYS):
            extra["as_of"] = today.isoformat()  # new scenes may still arrive: refetch tomorrow
        return scene_key(self.name, self.version, fields, window.to_json(), request.grid().key(), extra)

    def fetch(self, request: AnalysisRequest, window: DateWindow, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None) -> FetchedScene:
        """The window's scene on ``request.grid()`` as a scene GeoTIFF, through the cache."""
        request.validate(max_area_km2=self.max_area_km2)
        fetched = self.cache.fetch_scene(self.cache_key(request, window),
                                         lambda: self.download_scene(request, window, progress, cancel), cancel)
        if fetched.from_cache and progress:
            progress(1, 1, "cache")
        return fetched

    def choose_scenes(self, request: AnalysisRequest, window: DateWindow,
                      listings: list[SceneListing]) -> list[SceneListing]:
        """The listed granules the composite uses: the least cloudy date's, or all under the limit."""
        limit = float(request.cloud_limit_pct)
        if request.composite == "median":
            chosen = [s for s in under_limit(listings, limit) if s.aoi_coverage_pct > 0]
            if not chosen:
                raise no_scene_error(listings, limit, window, "Earth Engine")
            return chosen
        best = choose_least_cloudy(listings, limit, window, "Earth Engine")
        return [s for s in listings if s.scene_id in best.scene_ids]

    def build_image(self, ee, request: AnalysisRequest, window: DateWindow,
                    listings: list[SceneListing]) -> tuple[Any, dict]:
        """The image to download (B1..B12, elevation, flags; see :func:`download_bands`) and its
        provenance. It uses exactly the listed granules :meth:`choose_scenes` keeps."""
        geom = self._geometry(ee, request)
        scenes = self.choose_scenes(request, window, listings)
        ids = sorted({s.scene_id for s in scenes})
        used = (self.s2_collection(ee, geom, window)
                .filter(ee.Filter.inList("system:index", ids))
                .map(lambda im: self.add_clear_band(ee, im)))
        if request.composite == "median":
            masked = used.map(lambda im: im.updateMask(im.select("clear")))
            optical = masked.select(list(S2_BANDS)).median()
            clear = masked.select(["clear"]).count().gt(0)
        else:
            mosaic = used.mosaic()
            optical = mosaic.select(list(S2_BANDS))
            clear = mosaic.select(["clear"])
        elevation = self.elevation_image(ee, self._grid_region(ee, request))
        dem_present = elevation.mask().gt(0).unmask(0)
        flags = clear.unmask(0).gt(0).multiply(CLEAR_BIT).add(dem_present.multiply(DEM_BIT))
        if self.optical_dtype == "uint16":
            optical, flags = optical.toUint16(), flags.toUint8().rename(FLAGS)
        else:  # the old wire format: every band float32
            optical, flags = optical.toFloat(), flags.toFloat().rename(FLAGS)
        image = ee.Image.cat([optical, elevation.toFloat(), flags])
        groups = group_by_date(scenes)
        provenance = {
            "source": self.name, "source_version": self.version, "collection": S2_COLLECTION,
            "window": window.to_json(), "composite": request.composite,
            "dates": sorted({s.date.isoformat() for s in scenes}),
            "scenes": [s.to_json() for s in scenes],
            "aoi_cloud_pct": round(float(np.mean([g.aoi_cloud_pct for g in groups])), 2) if groups else None,
            "cloud_measure": "share of the covered AOI that is cloud (s2cloudless) or cloud shadow",
            "cloud_limit_pct": float(request.cloud_limit_pct),
            "cloud_probability_collection": CLOUD_PROBABILITY_COLLECTION,
            "cloud_probability_threshold_pct": self.cloud_threshold,
            "dem": DEMS[self.dem][0], "grid": request.grid().key(),
            "note": "S2_HARMONIZED: the +1000 DN offset of baseline 04.00 (2022-01-25 on) removed",
        }
        return image, provenance

    def download_scene(self, request: AnalysisRequest, window: DateWindow,
                       progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> RawScene:
        check_cancel(cancel)
        listing_stats = RetryStats()
        listings = self.list_scenes(request, window, cancel, listing_stats)
        check_cancel(cancel)
        ee = self._ee(cancel)
        image, provenance = self.build_image(ee, request, window, listings)
        grid = request.grid()
        bands = download_bands(self.optical_dtype)
        stats = DownloadStats()
        pixels = download_pixels(ee_compute_fn(image, bands), grid, bands,
                                 max_workers=self.max_workers, policy=self.retry_policy,
                                 progress=progress, cancel=cancel, stats=stats)
        self.last_download_stats = stats
        provenance["download"] = {"tiles": stats.chunks, "requests": stats.requests,
                                  "retries": stats.retries, "splits": stats.splits,
                                  "bytes": stats.bytes, "listing_requests": listing_stats.calls,
                                  "optical_dtype": self.optical_dtype}
        return scene_from_pixels(pixels, grid, provenance)


def scene_from_pixels(pixels: np.ndarray, grid, provenance: dict) -> RawScene:
    """B1..B12 + elevation + flags (float32) -> a RawScene: elevation NaN where the DEM is masked,
    valid where clear, the DEM present and every value finite."""
    flags = np.nan_to_num(pixels[-1], nan=0.0).astype(np.uint8)
    data = pixels[:-1]
    dem_present = (flags & DEM_BIT) > 0
    data[-1][~dem_present] = np.nan
    valid = ((flags & CLEAR_BIT) > 0) & dem_present & np.isfinite(data).all(axis=0)
    return RawScene(data, S2_BANDS + (ELEVATION,), valid, grid.transform, grid.crs, provenance)


def parse_listing(info: Any) -> list[SceneListing]:
    """SceneListings from the getInfo() of the listing FeatureCollection."""
    out = []
    for feature in (info or {}).get("features", []):
        p = feature.get("properties", {})
        try:
            when = datetime.datetime.fromtimestamp(float(p["time_ms"]) / 1000.0, tz=datetime.timezone.utc).date()
            covered = p.get("aoi_covered")
            clear = p.get("aoi_clear")
            out.append(SceneListing(
                date=when, scene_id=str(p["scene_id"]),
                scene_cloud_pct=round(float(p.get("scene_cloud_pct") or 0.0), 2),
                aoi_cloud_pct=round(100.0 * (1.0 - float(clear)), 2) if clear is not None else 100.0,
                aoi_coverage_pct=round(100.0 * float(covered), 2) if covered is not None else 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("skipping an unreadable scene listing (%s)", type(exc).__name__)
    return sorted(out, key=lambda s: (s.date, s.scene_id))
