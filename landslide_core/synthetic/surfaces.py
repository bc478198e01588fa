"""Objects of the world and their surfaces at the two dates: fields, clear-cuts, roofs, scars.

Every object (a field parcel, a clear-cut block, a roof, a landslide scar) gets its own
material and, per date ("pre", "post"), a state: fields green up, are harvested (straw) or
ploughed (bare soil, often moist and dark); forest blocks are felled (fresh cuts of soil and
slash) or regrow; scars are fresh (white rock to pink-brown or dark wet soil) or old and
partly green again. The result is, per date, an object index raster and a table of object
spectra (surface reflectance x 10000), plus the land cover codes of that date.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .land_cover import BARE_FIELD, CLEAR_CUT, CROP, GRASS, NEW_LANDSLIDE, OLD_SCAR, LandCover
from .materials import CROP_SR, FOREST_SR, GRASS_SR, STRAW_SR, as_array, draw_bare, draw_roofs

#: Field states.
GREEN, YOUNG, PLOUGHED, STUBBLE, FALLOW = range(5)
_STATE_P = np.array([0.4, 0.15, 0.15, 0.1, 0.2])
#: Soil endmember weights (white, pink-brown, grey-brown, wet, grey rock) per kind of object.
FIELD_SOILS = (0.03, 0.35, 0.4, 0.2, 0.02)
CUT_SOILS = (0.02, 0.35, 0.4, 0.2, 0.03)
FRESH_SCAR_SOILS = (0.3, 0.33, 0.2, 0.1, 0.07)
OLD_SCAR_SOILS = (0.12, 0.3, 0.3, 0.13, 0.15)


#: Side of the farm blocks (px) whose parcels tend to share a state, and how strongly.
FARM_BLOCK_PX = 30
FIELD_COHERENCE = 0.6


def _field_blocks(field_id: np.ndarray, n: int, block_px: int) -> np.ndarray:
    """Block number (0..m-1) of each field parcel 1..n, from its centroid."""
    if n == 0:
        return np.zeros(0, np.int64)
    ids = field_id.ravel()
    on = ids > 0
    rows, cols = np.divmod(np.flatnonzero(on), field_id.shape[1])
    count = np.maximum(np.bincount(ids[on], minlength=n + 1)[1:], 1)
    cy = np.bincount(ids[on], rows, minlength=n + 1)[1:] / count
    cx = np.bincount(ids[on], cols, minlength=n + 1)[1:] / count
    key = (cy // block_px).astype(np.int64) * 100003 + (cx // block_px).astype(np.int64)
    return np.unique(key, return_inverse=True)[1].ravel()


def _coherent_states(rng: np.random.Generator, block: np.ndarray, coherence: float,
                     p: np.ndarray = _STATE_P) -> np.ndarray:
    """A state per field: its block's state with chance ``coherence``, else its own draw."""
    n_blocks = int(block.max()) + 1 if block.size else 0
    own = rng.choice(len(p), size=block.size, p=p)
    shared = rng.choice(len(p), size=n_blocks, p=p)[block] if n_blocks else own
    return np.where(rng.uniform(size=block.size) < coherence, shared, own)


@dataclass
class Surfaces:
    """Object rasters, object spectra and land cover codes at the pre and post dates."""

    obj_pre: np.ndarray        # int32 (H, W): 0 none, else a row of spectra_pre
    obj_post: np.ndarray
    spectra_pre: np.ndarray    # float32 (n + 1, 12), row 0 unused
    spectra_post: np.ndarray
    code_pre: np.ndarray       # uint8 (H, W)
    code_post: np.ndarray
    field_state_pre: np.ndarray   # int (n_fields,)
    field_state_post: np.ndarray


def _field_spectra(rng: np.random.Generator, state: np.ndarray, soil: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spectra (n, 12) and green share (n,) of fields in ``state`` over their ``soil``."""
    n = state.size
    crop, grass, straw = as_array(CROP_SR), as_array(GRASS_SR), as_array(STRAW_SR)
    g = np.select([state == GREEN, state == YOUNG, state == FALLOW],
                  [rng.uniform(0.7, 1.0, n), rng.uniform(0.15, 0.55, n), rng.uniform(0.55, 1.0, n)],
                  rng.uniform(0.0, 0.08, n)).astype(np.float32)
    s = np.where(state == STUBBLE, rng.uniform(0.45, 0.9, n), 0.0).astype(np.float32)
    s = np.minimum(s, 1.0 - g)
    moist = np.where(state == PLOUGHED, rng.uniform(0.6, 1.0, n), rng.uniform(0.85, 1.05, n)).astype(np.float32)
    green_sr = np.where((state == FALLOW)[:, None], grass[None], crop[None])
    vigour = rng.uniform(0.85, 1.15, n).astype(np.float32)[:, None]
    spec = g[:, None] * green_sr * vigour + s[:, None] * straw[None] + (1 - g - s)[:, None] * soil * moist[:, None]
    return spec.astype(np.float32), g


def _field_codes(state: np.ndarray, green: np.ndarray) -> np.ndarray:
    return np.where(state == FALLOW, GRASS, np.where(green >= 0.3, CROP, BARE_FIELD)).astype(np.uint8)


def make_surfaces(rng: np.random.Generator, cover: LandCover, old_label: np.ndarray, n_old: int,
                  new_label: np.ndarray, n_new: int, field_change: float = 0.6,
                  new_cut_share: float = 0.25) -> Surfaces:
    """Draw materials and per-date states of every object (deterministic for ``rng``).

    ``old_label``/``new_label``: scar labels (0 none, 1..n); new scars exist at post only.
    ``field_change``: chance that a field's state is drawn again for the post date;
    ``new_cut_share``: chance that a forest block not yet felled is felled between the dates.
    """
    nf, nc, nh = cover.n_fields, cover.n_cuts, cover.n_houses
    # fields
    soil_f = draw_bare(rng, nf, FIELD_SOILS, 0.18) * rng.uniform(0.6, 1.0, (nf, 1)).astype(np.float32)
    # neighbouring parcels are often worked alike (one farm, one season): blocks of ~300 m
    block = _field_blocks(cover.field_id, nf, FARM_BLOCK_PX)
    st_pre = _coherent_states(rng, block, FIELD_COHERENCE)
    redraw = _coherent_states(rng, block, FIELD_COHERENCE, p=np.array([1 - field_change, field_change])) == 1
    st_post = np.where(redraw, _coherent_states(rng, block, FIELD_COHERENCE), st_pre)
    spec_f_pre, g_pre = _field_spectra(rng, st_pre, soil_f)
    spec_f_post, g_post = _field_spectra(rng, st_post, soil_f)
    same = st_post == st_pre  # an unchanged field keeps its look, up to the season
    spec_f_post[same] = spec_f_pre[same] * rng.uniform(0.95, 1.05, (int(same.sum()), 1)).astype(np.float32)
    g_post[same] = g_pre[same]
    # clear-cuts: felled before the pre date (regrowing by age) or between the dates, or still forest
    soil_c = draw_bare(rng, nc, CUT_SOILS, 0.18) * rng.uniform(0.6, 1.0, (nc, 1)).astype(np.float32)
    cut_pre = rng.uniform(size=nc) < 0.6
    cut_post = cut_pre | (rng.uniform(size=nc) < new_cut_share)
    age = rng.uniform(0.0, 1.0, nc).astype(np.float32)
    forest, grass, straw = as_array(FOREST_SR), as_array(GRASS_SR), as_array(STRAW_SR)

    def cut_spectra(age_: np.ndarray) -> np.ndarray:
        g = (0.05 + 0.75 * age_)[:, None]
        slash = (0.35 * (1 - age_))[:, None]
        regrowth = np.where((age_ > 0.6)[:, None], 0.5 * grass[None] + 0.5 * forest[None], grass[None])
        return (g * regrowth + slash * straw[None] * 0.7 + (1 - g - slash) * soil_c).astype(np.float32)

    spec_c_pre = cut_spectra(age)
    spec_c_post = cut_spectra(np.where(cut_pre, np.minimum(age + 0.1, 1.0), rng.uniform(0.0, 0.1, nc)).astype(np.float32))
    # roofs
    spec_h = draw_roofs(rng, nh)
    # scars: fresh ones are bare (white rock .. pink-brown .. dark wet), old ones weathered
    spec_old = draw_bare(rng, n_old, OLD_SCAR_SOILS, 0.2) * rng.uniform(0.7, 1.0, (n_old, 1)).astype(np.float32)
    spec_new = draw_bare(rng, n_new, FRESH_SCAR_SOILS, 0.25)
    # one table per date: fields, cuts, roofs, old scars, new scars
    o_c, o_h = nf, nf + nc
    o_old = o_h + nh
    o_new = o_old + n_old
    zero = np.zeros((1, 12), np.float32)
    spectra_pre = np.concatenate([zero, spec_f_pre, spec_c_pre, spec_h, spec_old, spec_new])
    spectra_post = np.concatenate([zero, spec_f_post, spec_c_post, spec_h, spec_old, spec_new])
    code = cover.code
    fid, cid, hid = cover.field_id, cover.cut_id, cover.house_id

    def phase(cut_now: np.ndarray, st: np.ndarray, g: np.ndarray, with_new: bool):
        obj = np.where(fid > 0, fid, 0).astype(np.int32)
        cut_px = cid > 0
        if nc:
            cut_px &= np.concatenate([[False], cut_now])[cid]
        obj[cut_px] = cid[cut_px] + o_c
        obj[hid > 0] = hid[hid > 0] + o_h
        old_px = old_label > 0
        obj[old_px] = old_label[old_px] + o_old
        c = code.copy()
        if nf:
            f_px = fid > 0
            c[f_px] = np.concatenate([[CROP], _field_codes(st, g)])[fid[f_px]]
        c[cut_px] = CLEAR_CUT
        c[old_px] = OLD_SCAR
        if with_new:
            new_px = new_label > 0
            obj[new_px] = new_label[new_px] + o_new
            c[new_px] = NEW_LANDSLIDE
        return obj, c

    obj_pre, code_pre = phase(cut_pre, st_pre, g_pre, False)
    obj_post, code_post = phase(cut_post, st_post, g_post, True)
    return Surfaces(obj_pre, obj_post, spectra_pre, spectra_post, code_pre, code_post, st_pre, st_post)
