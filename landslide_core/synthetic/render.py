"""Seeing the world on a date: sun, light, season, haze and cirrus, clouds, calibration, sensor.

The steps, each drawn per date: surface reflectance of the date's covers and objects in the
season of the day; terrain light for a sun drawn over a wide range (hillshade with cast
shadows, sky light); the atmosphere (haze toward the blue, cirrus in B10); the date's
misregistration of the optical bands; clouds and their shadows; per-band gain and offset;
the sensor (band resolutions, noise, integer DNs). The elevation band is the delivered DEM,
on the grid.
"""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Optional

import numpy as np
from scipy import ndimage

from ..progress import CancelToken, ProgressFn
from ..scene import CONTRACT_WITHOUT_SLOPE, RawScene
from .atmosphere import PATH_DN, calibrate, draw_atmosphere, to_toa
from .clouds import apply_clouds, make_clouds
from .illumination import draw_sun, terrain_illumination
from .sensor import sensor, shift_image
from .spectra import N_BANDS, seasonal_table, surface_reflectance, wet_season_index

if TYPE_CHECKING:
    from .world import World


def render(rng: np.random.Generator, world: "World", when: str, day: date, clouds: bool,
           shift_px: tuple[float, float], progress: Optional[ProgressFn] = None,
           cancel: Optional[CancelToken] = None) -> RawScene:
    from .world import _Steps, _draw

    step = _Steps(8, progress, cancel)
    opt, terrain, surf = world.options, world.terrain, world.surfaces
    if when == "pre":
        code, obj, spectra, blend = surf.code_pre, surf.obj_pre, surf.spectra_pre, world.blend_pre
    else:
        code, obj, spectra, blend = surf.code_post, surf.obj_post, surf.spectra_post, world.blend_post
    shape = code.shape
    px = terrain.pixel_size_m
    step("surface")
    sun = draw_sun(rng, day, world.sun_latitude, opt.sun_elevation_deg)
    wet = float(np.clip(wet_season_index(day, world.lat) + rng.normal(0.0, 0.15), 0.0, 1.0))
    # the scene's stack, made once: every step below works in place on its optical bands
    data = np.empty((N_BANDS + 1,) + shape, np.float32)
    refl = surface_reflectance(rng, code, obj, spectra, blend, seasonal_table(world.palette, wet), world.texture,
                               out=data[:N_BANDS])
    step("light")
    light = terrain_illumination(terrain.dz_dx, terrain.dz_dy, terrain.elevation_m, px, sun,
                                 minnaert_k=_draw(rng, opt.minnaert_k))
    step("atmosphere")
    # cirrus is a cloud: a clear-sky rendering (clouds=False) has haze but no cirrus
    atm = draw_atmosphere(rng, shape, px, terrain.elevation_m, opt.haze_aod, opt.cirrus_chance if clouds else 0.0,
                          opt.cirrus_dn, opt.gain_sd, opt.offset_sd_dn)
    toa = to_toa(refl, light, atm, terrain.elevation_m, sun)
    step("misregistration")
    if shift_px != (0.0, 0.0):
        toa = shift_image(toa, shift_px, cancel)
    step("clouds")
    valid = np.ones(shape, bool)
    cloud_share = 0.0
    if clouds and rng.uniform() >= opt.clear_sky_chance:
        layer = make_clouds(rng, shape, sun, px, _draw(rng, opt.cloud_cover))
        toa = apply_clouds(toa, layer, PATH_DN)
        valid = ~layer.invalid()
    thick = atm.thick_cirrus()
    if thick.any():
        valid &= ~ndimage.binary_dilation(thick, iterations=2)
    cloud_share = float(1.0 - valid.mean())
    step("calibration")
    calibrate(toa, atm)
    step("sensor")
    dn = sensor(rng, toa, cancel=cancel)
    step("done")
    if dn is not refl:  # each step above works in place; should one not, its result is copied in
        data[:N_BANDS] = dn
    data[N_BANDS] = world.dem.elevation_m
    provenance = {
        "source": "synthetic", "seed": int(world.seed), "date": day.isoformat(),
        "scene_ids": [f"synthetic-{world.seed}-{day.strftime('%Y%m%d')}"],
        "cloud_percent": round(100.0 * cloud_share, 2),
        "sun_elevation_deg": round(sun.elevation_deg, 2), "sun_azimuth_deg": round(sun.azimuth_deg, 2),
        "centre_lonlat": [round(world.lon, 5), round(world.lat, 5)],
        "haze_aod": round(atm.mean_aod, 3), "cirrus_max_dn": round(float(atm.cirrus_dn.max()), 1),
        "misregistration_px": [round(float(shift_px[0]), 3), round(float(shift_px[1]), 3)],
        "dem_resolution_m": round(world.dem.resolution_m, 1), "dem_resampling": world.dem.resampling,
        "shadow_percent": round(100.0 * light.shadow_share, 2),
    }
    return RawScene(data, CONTRACT_WITHOUT_SLOPE, valid, world.grid.transform, world.grid.crs, provenance)
