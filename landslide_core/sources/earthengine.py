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
(B8 < 0.15 reflectance) there. Per window: the least cloudy date inside the AOI (granules of
that date mosaicked), or a cloud-masked median of all scenes under the limit.

Elevation: ``COPERNICUS/DEM/GLO30`` (band ``DEM``) by default, ``JAXA/ALOS/AW3D30/V3_2``
(band ``DSM``) as an option; bilinear resampling. Everything is computed on the request's
grid (UTM zone, 10 m) by passing the grid's CRS, affine transform and dimensions to
``ee.data.computePixels`` (see :mod:`.ee_download`); slope is computed later by the band
contract, the same way for every source.
"""
from __future__ import annotations

import datetime
import logging
from typing import Any, Optional

import numpy as np

from ..bands import ELEVATION, SPECTRAL_BANDS, VALID
from ..errors import SourceError
from ..progress import CancelToken, ProgressFn, check_cancel
from ..scene import RawScene
from .aoi import MAX_AOI_KM2
from .base import FetchedScene, Readiness, SceneListing
from .cache import SceneCache, scene_key
from .ee_auth import AuthConfig, find_config, initialize, self_test
from .ee_download import DEFAULT_WORKERS, DownloadStats, download_pixels, ee_compute_fn
from .request import AnalysisRequest, DateWindow
from .retry import RetryPolicy, call_with_retry
from .selection import choose_least_cloudy, group_by_date, no_scene_error, under_limit

log = logging.getLogger(__name__)

S2_COLLECTION = "COPERNICUS/S2_HARMONIZED"
CLOUD_PROBABILITY_COLLECTION = "COPERNICUS/S2_CLOUD_PROBABILITY"
#: DEM choices: name -> (collection, band).
DEMS = {"glo30": ("COPERNICUS/DEM/GLO30", "DEM"), "aw3d30": ("JAXA/ALOS/AW3D30/V3_2", "DSM")}
S2_BANDS = SPECTRAL_BANDS
DOWNLOAD_BANDS = S2_BANDS + (ELEVATION, VALID)
MAX_LISTED_SCENES = 200
#: A window ending this recently may still gain scenes; its cache entry lasts one day.
RECENT_DAYS = 5


class EarthEngineSource:
    """Sentinel-2 L1C + DEM from Google Earth Engine."""

    name = "earthengine"
    version = "1"

    def __init__(self, cache: Optional[SceneCache] = None, cloud_probability_threshold_pct: float = 40.0,
                 dem: str = "glo30", max_workers: int = DEFAULT_WORKERS,
                 retry_policy: Optional[RetryPolicy] = None, auth_config: Optional[AuthConfig] = None,
                 listing_scale_m: float = 60.0, shadow_distance_km: float = 1.0,
                 nir_dark_threshold: float = 0.15, max_area_km2: float = MAX_AOI_KM2):
        if dem not in DEMS:
            raise SourceError(f"Unknown DEM '{dem}'.", f"Use one of: {', '.join(DEMS)}.")
        if not 0 <= cloud_probability_threshold_pct <= 100:
            raise SourceError(f"The cloud probability threshold {cloud_probability_threshold_pct} is "
                              "outside 0-100 %.", "Use a value such as 40.")
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
        self.last_download_stats: Optional[DownloadStats] = None

    # --- sign-in -----------------------------------------------------------------------------
    @property
    def auth_config(self) -> AuthConfig:
        if self._auth_config is None:
            self._auth_config = find_config()
        return self._auth_config

    def readiness(self, connect: bool = True) -> Readiness:
        return self_test(self.auth_config, connect=connect)

    def self_test(self, connect: bool = True) -> Readiness:
        """What is missing to use Earth Engine, and how to fix it (same as readiness)."""
        return self.readiness(connect)

    def _ee(self):
        initialize(self.auth_config)
        import ee

        return ee

    # --- expressions -------------------------------------------------------------------------
    def _geometry(self, ee, request: AnalysisRequest):
        return ee.Geometry(request.aoi)

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
        """Add band ``clear``: data present, not cloud, not cloud shadow."""
        cloud = self._cloud(ee, img)
        dark_nir = img.select("B8").lt(self.nir_dark_threshold * 1e4)
        shadow_azimuth = ee.Number(90).subtract(ee.Number(img.get("MEAN_SOLAR_AZIMUTH_ANGLE")))
        projected = (cloud.directionalDistanceTransform(shadow_azimuth, self.shadow_distance_km * 10)
                     .reproject(crs=img.select(0).projection(), scale=100)
                     .select("distance").mask())
        shadow = projected.multiply(dark_nir)
        has_data = img.select("B2").mask().gt(0)
        clear = cloud.Or(shadow).Not().And(has_data).rename("clear")
        return img.addBands(clear)

    def elevation_image(self, ee, geom):
        collection, band = DEMS[self.dem]
        return (ee.ImageCollection(collection).filterBounds(geom).select(band)
                .map(lambda im: im.resample("bilinear")).mosaic()
                .rename(ELEVATION).toFloat())

    # --- listing -----------------------------------------------------------------------------
    def list_scenes(self, request: AnalysisRequest, window: DateWindow) -> list[SceneListing]:
        """Every granule over the AOI in the window, whatever its cloud cover (fetch applies the
        limit): date, id, scene cloud %, cloud % inside the AOI, share of the AOI covered."""
        ee = self._ee()
        geom = self._geometry(ee, request)
        threshold = self.cloud_threshold
        scale = self.listing_scale_m

        def stats(img):
            covered = img.select("B2").mask().gt(0)
            cloud = ee.Image(img.get("cloud_probability")).select("probability").gt(threshold)
            means = ee.Image.cat([cloud.updateMask(covered).rename("cloud"),
                                  covered.unmask(0).rename("covered")]).reduceRegion(
                reducer=ee.Reducer.mean(), geometry=geom, scale=scale, maxPixels=1e9, bestEffort=True)
            return ee.Feature(None, {"scene_id": img.get("system:index"),
                                     "time_ms": img.get("system:time_start"),
                                     "scene_cloud_pct": img.get("CLOUDY_PIXEL_PERCENTAGE"),
                                     "aoi_cloud": means.get("cloud"), "aoi_covered": means.get("covered")})

        features = ee.FeatureCollection(
            self.s2_collection(ee, geom, window).limit(MAX_LISTED_SCENES).map(stats))
        info = call_with_retry(features.getInfo, self.retry_policy,
                               f"Listing Sentinel-2 scenes from {window.start} to {window.end}")
        return parse_listing(info)

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
                                         lambda: self.download_scene(request, window, progress, cancel))
        if fetched.from_cache and progress:
            progress(1, 1, "cache")
        return fetched

    def build_image(self, ee, request: AnalysisRequest, window: DateWindow,
                    listings: list[SceneListing]) -> tuple[Any, dict]:
        """The 14-band float32 image (B1..B12, elevation, valid) and its provenance."""
        geom = self._geometry(ee, request)
        limit = float(request.cloud_limit_pct)
        collection = self.s2_collection(ee, geom, window)
        if request.composite == "median":
            chosen = under_limit(listings, limit)
            if not chosen:
                raise no_scene_error(listings, limit, window, "Earth Engine")
            masked = (collection.filter(ee.Filter.lte("CLOUDY_PIXEL_PERCENTAGE", limit))
                      .map(lambda im: self.add_clear_band(ee, im))
                      .map(lambda im: im.updateMask(im.select("clear"))))
            optical = masked.select(list(S2_BANDS)).median()
            valid = masked.select("B2").count().gt(0).unmask(0)
            dates = sorted({s.date.isoformat() for s in chosen})
            scenes = chosen
        else:
            best = choose_least_cloudy(listings, limit, window, "Earth Engine")
            day = (collection.filter(ee.Filter.lte("CLOUDY_PIXEL_PERCENTAGE", limit))
                   .filter(ee.Filter.inList("system:index", best.scene_ids))
                   .map(lambda im: self.add_clear_band(ee, im)))
            mosaic = day.mosaic()
            optical = mosaic.select(list(S2_BANDS))
            valid = mosaic.select("clear").unmask(0)
            dates = [best.date.isoformat()]
            scenes = [s for s in listings if s.scene_id in best.scene_ids]
        image = ee.Image.cat([optical.toFloat(), self.elevation_image(ee, geom),
                              valid.toFloat().rename(VALID)])
        groups = group_by_date(scenes)
        provenance = {
            "source": self.name, "source_version": self.version, "collection": S2_COLLECTION,
            "window": window.to_json(), "composite": request.composite, "dates": dates,
            "scenes": [s.to_json() for s in scenes],
            "aoi_cloud_pct": round(float(np.mean([g.aoi_cloud_pct for g in groups])), 2) if groups else None,
            "cloud_limit_pct": limit, "cloud_probability_collection": CLOUD_PROBABILITY_COLLECTION,
            "cloud_probability_threshold_pct": self.cloud_threshold,
            "dem": DEMS[self.dem][0], "grid": request.grid().key(),
            "note": "S2_HARMONIZED: the +1000 DN offset of baseline 04.00 (2022-01-25 on) removed",
        }
        return image, provenance

    def download_scene(self, request: AnalysisRequest, window: DateWindow,
                       progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> RawScene:
        check_cancel(cancel)
        listings = self.list_scenes(request, window)
        check_cancel(cancel)
        ee = self._ee()
        image, provenance = self.build_image(ee, request, window, listings)
        grid = request.grid()
        stats = DownloadStats()
        pixels = download_pixels(ee_compute_fn(image, DOWNLOAD_BANDS), grid, DOWNLOAD_BANDS,
                                 max_workers=self.max_workers, policy=self.retry_policy,
                                 progress=progress, cancel=cancel, stats=stats)
        self.last_download_stats = stats
        provenance["download"] = {"tiles": stats.chunks, "requests": stats.requests,
                                  "retries": stats.retries, "splits": stats.splits}
        valid = (pixels[-1] > 0.5) & np.isfinite(pixels[:-1]).all(axis=0)
        return RawScene(pixels[:-1], S2_BANDS + (ELEVATION,), valid, grid.transform, grid.crs, provenance)


def parse_listing(info: Any) -> list[SceneListing]:
    """SceneListings from the getInfo() of the listing FeatureCollection."""
    out = []
    for feature in (info or {}).get("features", []):
        p = feature.get("properties", {})
        try:
            when = datetime.datetime.fromtimestamp(float(p["time_ms"]) / 1000.0, tz=datetime.timezone.utc).date()
            covered = p.get("aoi_covered")
            cloud = p.get("aoi_cloud")
            out.append(SceneListing(
                date=when, scene_id=str(p["scene_id"]),
                scene_cloud_pct=round(float(p.get("scene_cloud_pct") or 0.0), 2),
                aoi_cloud_pct=round(100.0 * float(cloud), 2) if cloud is not None else 100.0,
                aoi_coverage_pct=round(100.0 * float(covered), 2) if covered is not None else 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("skipping an unreadable scene listing %r: %s", p, exc)
    return sorted(out, key=lambda s: (s.date, s.scene_id))
