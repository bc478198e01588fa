"""A Landslide4Sense-style training set cut from generated post-event scenes.

Layout (as the real benchmark): ``img/image_{i}.h5`` with dataset 'img' (128, 128, 14)
float32 in L4S units (raw / L4S_SCALE: B1..B12, slope, elevation) and ``mask/mask_{i}.h5``
with dataset 'mask' (128, 128) uint8, i from 1.

Each scene is a world of its own (terrain, covers, sun, haze, cirrus, clouds, DEM resolution
drawn per scene: see WorldOptions). The elevation band is the delivered DEM (degraded to
10-30 m); the slope band is made as Landslide4Sense makes it (on the DEM's own grid, whole
degrees, nearest-resampled) where that DEM was nearest-resampled, else as the pipeline
makes it (Horn's method at 10 m). The optical bands sit up to 0.7 px off the DEM.

The mask marks new landslides *and* old scars as landslide (1), whatever their look (white
fresh rock, red-brown or wet soil, partly regrown, under thin haze or cirrus): Landslide4Sense
is a single-date task, and a single image shows scars, not when they formed. Fields, clear-
cuts, riverbeds, roads and villages are 0. Pixels under cloud, cloud shadow or thick cirrus
show what a real patch would show (the cloud) and are 0 in the mask.

Patches are chosen so the landslide-pixel share of the whole set is near the requested
share (the real set has about 2 %): patches with landslides are taken until the share is
reached, the rest are negatives, preferring those full of confounders (riverbeds, fields,
clear-cuts, roads, villages, bare rock) and including some with clouds.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Optional

import numpy as np

from ..bands import ALL_BANDS, slope_horn_deg, to_model_input
from ..errors import InputError
from ..grid import grid_centered
from ..progress import CancelToken, ProgressFn, check_cancel
from .land_cover import BARE_FIELD, CLEAR_CUT, RIVERBED, ROAD, ROCK, SETTLEMENT, WATER
from .sensor import draw_shift, shift_labels
from .world import WorldOptions, build_world, render_scene

PATCH_PX = 128
#: Share of source scenes without any landslide (their patches are negatives).
QUIET_SCENE_SHARE = 0.35
#: Share of source scenes in the high Andes (tree line, puna, bare rock above).
HIGH_SCENE_SHARE = 0.1
CONFOUNDERS = (BARE_FIELD, ROCK, RIVERBED, WATER, ROAD, SETTLEMENT, CLEAR_CUT)
#: Misregistration of a patch's optical bands against its DEM (px, at most).
L4S_SHIFT_PX = 0.7

#: World parameters for training scenes: lower ground on average (the real benchmark's
#: sites lie at a few hundred to ~2000 m), more landslides per km2 to find positives fast.
L4S_LOW = WorldOptions(base_elevation_m=(50.0, 800.0), new_landslides_per_km2=(2.0, 4.0),
                       old_scars_per_km2=(0.6, 1.5), farm_share=(0.0, 0.25), cloud_cover=(0.03, 0.25))
L4S_HIGH = WorldOptions(base_elevation_m=(1200.0, 2600.0), new_landslides_per_km2=(2.0, 4.0),
                        old_scars_per_km2=(0.6, 1.5), farm_share=(0.0, 0.25), cloud_cover=(0.03, 0.25))


@dataclass
class _Patch:
    img: np.ndarray   # (128, 128, 14) float32, L4S units
    mask: np.ndarray  # (128, 128) uint8
    confounder_share: float
    cloud_share: float


#: How negative patches are chosen: "confounders" prefers those full of fields, rivers, roads,
#: rock, villages and cuts (and a third of the scenes have no scar at all); "natural" takes them
#: as they come (a sixth of the scenes without scars), like a benchmark cut around real events.
NEGATIVES = ("confounders", "natural")
_QUIET_SHARE = {"confounders": QUIET_SCENE_SHARE, "natural": QUIET_SCENE_SHARE / 2}


def _scene_patches(seed: int, k: int, scene_px: int, cloudy: bool,
                   quiet_share: float = QUIET_SCENE_SHARE) -> list[_Patch]:
    rng = np.random.default_rng([seed, k, 77])
    lon = -75.4 + float(rng.uniform(-1.5, 1.5))
    lat = -11.3 + float(rng.uniform(-1.5, 1.5))
    # high scenes spread evenly over the sequence (a low-discrepancy draw), so that a small set
    # does not end up with many of them by chance
    high = (k * 0.6180339887498949 + (seed % 1000) * 0.001) % 1.0 < HIGH_SCENE_SHARE
    rng.uniform()
    opts = L4S_HIGH if high else L4S_LOW
    if rng.uniform() < quiet_share:  # a district without scars: negatives with confounders
        opts = replace(opts, new_landslides_per_km2=(0.0, 0.0), old_scars_per_km2=(0.0, 0.0),
                       farm_share=(0.05, 0.35), settlement_share=(0.003, 0.02), clearcut_share=(0.0, 0.08))
    grid = grid_centered(lon, lat, scene_px, scene_px)
    world = build_world(grid, seed=seed * 100003 + k, options=opts)
    day = date(2019, 1, 1) + timedelta(days=int(rng.integers(0, 365)))
    # the optical bands sit a little off the DEM, as in real patches; the mask follows the optics
    shift = draw_shift(rng, L4S_SHIFT_PX)
    scene = render_scene(world, "post", day, clouds=cloudy, shift_px=shift)
    raw = scene.data  # B1..B12, elevation (the delivered DEM)
    if world.dem.resampling == "nearest":  # as Landslide4Sense: on the DEM's own grid, whole degrees
        slope = world.dem.slope_l4s_deg(abs(grid.transform.a))
    else:  # as the pipeline: Horn's method on the (bilinearly resampled) delivered DEM at 10 m
        slope = slope_horn_deg(raw[-1], abs(grid.transform.a), abs(grid.transform.e))
    stack = np.concatenate([raw[:-1], slope[None], raw[-1:]], axis=0)
    x, _ = to_model_input(stack, ALL_BANDS, ALL_BANDS, units="raw")
    truth = shift_labels(world.new_landslides | world.old_scars, shift) & scene.valid
    code_post = shift_labels(world.code_post, shift)
    conf = np.isin(code_post, CONFOUNDERS)
    out = []
    n = scene_px // PATCH_PX
    for i in range(n):
        for j in range(n):
            sl = (slice(i * PATCH_PX, (i + 1) * PATCH_PX), slice(j * PATCH_PX, (j + 1) * PATCH_PX))
            img = np.ascontiguousarray(np.moveaxis(x[:, sl[0], sl[1]], 0, -1))
            out.append(_Patch(img, truth[sl].astype(np.uint8), float(conf[sl].mean()),
                              float(1.0 - scene.valid[sl].mean())))
    return out


def write_l4s_dataset(out_dir, n_patches: int, seed: int = 0, landslide_share: float = 0.02,
                      scene_px: int = 512, cloudy_scene_share: float = 0.25,
                      progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                      negatives: str = "confounders") -> Path:
    """Write ``n_patches`` Landslide4Sense patches to ``out_dir`` (img/, mask/); return it.

    ``landslide_share``: wanted share of landslide pixels over the whole set (0-0.5).
    ``cloudy_scene_share``: share of source scenes with clouds. ``negatives``: see
    :data:`NEGATIVES`. Deterministic per seed.
    """
    if negatives not in NEGATIVES:
        raise InputError(f"Unknown choice of negatives '{negatives}'.", f"Use one of: {', '.join(NEGATIVES)}.")
    if not isinstance(n_patches, (int, np.integer)) or n_patches < 1:
        raise InputError(f"The number of patches must be a positive integer, got {n_patches!r}.")
    if not 0.0 <= landslide_share <= 0.5:
        raise InputError(f"The landslide share must be between 0 and 0.5, got {landslide_share}.",
                         "The real Landslide4Sense set has about 0.02 (2 % of pixels).")
    if scene_px < PATCH_PX or scene_px % PATCH_PX:
        raise InputError(f"The scene size must be a multiple of {PATCH_PX} px, got {scene_px}.")
    out = Path(out_dir)
    if out.exists() and any((out / d).glob("*.h5") for d in ("img", "mask") if (out / d).is_dir()):
        raise InputError(f"{out} already holds Landslide4Sense files.",
                         "Choose an empty or new folder, so old and new patches do not mix.")
    (out / "img").mkdir(parents=True, exist_ok=True)
    (out / "mask").mkdir(parents=True, exist_ok=True)
    import h5py

    px_per_patch = PATCH_PX * PATCH_PX
    target_px = landslide_share * n_patches * px_per_patch
    mean_pos_px = 0.05 * px_per_patch  # prior, updated from the patches seen
    seen_pos_px, seen_pos = 0.0, 0
    pos_px, n_pos, n_neg, written = 0, 0, 0, 0
    per_scene = (scene_px // PATCH_PX) ** 2
    max_scenes = 20 + 8 * int(np.ceil(n_patches / per_scene)) + int(np.ceil(target_px / (0.01 * px_per_patch * per_scene)))
    neg_cap = max(2, per_scene // 2)
    pos_cap = max(2, per_scene // 2)  # spread the positives over many scenes
    k = 0
    rng = np.random.default_rng([seed, 991])
    while written < n_patches:
        check_cancel(cancel)
        relax = k >= max_scenes  # out of scenes: take whatever fills the set
        cloudy = bool(rng.uniform() < cloudy_scene_share)
        patches = _scene_patches(seed, k, scene_px, cloudy, _QUIET_SHARE[negatives])
        k += 1
        for p in patches:
            npx = int(p.mask.sum())
            if npx:
                seen_pos_px += npx
                seen_pos += 1
        if seen_pos:
            mean_pos_px = seen_pos_px / seen_pos
        order = rng.permutation(len(patches))
        # negatives: confounder-rich first, cloudy ones count as interesting too
        negs = sorted((i for i in order if not patches[i].mask.any()),
                      key=lambda i: -(patches[i].confounder_share + 0.5 * min(patches[i].cloud_share, 0.3)
                                      + 0.02 * rng.uniform()))
        if negatives == "natural":
            negs = [i for i in order if not patches[i].mask.any()]
        taken_neg = taken_pos = 0
        for i in order:
            p = patches[i]
            if written >= n_patches:
                break
            npx = int(p.mask.sum())
            remaining_px = target_px - pos_px
            pos_goal = n_pos + (int(np.ceil(remaining_px / max(mean_pos_px, 1.0))) if remaining_px > 0 else 0)
            if npx:
                if not relax and (remaining_px <= 0 or taken_pos >= pos_cap):
                    continue
                pos_px += npx
                n_pos += 1
                taken_pos += 1
            else:
                if i not in negs[:neg_cap] and not relax:
                    continue
                if not relax and n_neg >= n_patches - min(pos_goal, n_patches):
                    continue
                n_neg += 1
                taken_neg += 1
            written += 1
            with h5py.File(out / "img" / f"image_{written}.h5", "w") as f:
                ds = f.create_dataset("img", data=p.img)
                ds.attrs["bands"] = np.array(ALL_BANDS, dtype="S")
            with h5py.File(out / "mask" / f"mask_{written}.h5", "w") as f:
                f.create_dataset("mask", data=p.mask)
        if progress:
            progress(written, n_patches, "patches")
    meta = {"generator": "landslide_core.synthetic", "seed": int(seed), "n_patches": int(n_patches),
            "requested_landslide_share": float(landslide_share),
            "landslide_share": round(pos_px / (n_patches * px_per_patch), 5),
            "patches_with_landslides": n_pos, "scenes": k, "scene_px": scene_px, "negatives": negatives,
            "mask": "1 = landslide scar (new landslides and old scars), 0 = other or cloud/shadow",
            "units": "L4S (raw / L4S_SCALE), bands " + ",".join(ALL_BANDS)}
    (out / "synthetic_l4s.json").write_text(json.dumps(meta, indent=2))
    return out
