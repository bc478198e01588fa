"""The Monitor page's "Objects and change" settings: hysteresis, terrain and shape rules, change tests.

Each value is a named setting of :class:`landslide_core.objects.ObjectRules` or
:class:`landslide_core.change.ChangeSettings` with its default. A minimum of 0 and a maximum of
1 (the ends of their ranges) switch a rule off, which is what they mean anyway.
What is chosen goes into the analysis's options (and so into its cache key and the outputs'
provenance).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from landslide_core.change import ChangeSettings
from landslide_core.objects import ObjectRules
from landslide_core.postprocess import DEFAULT_GROW_RATIO

GROW_RATIO = "w_grow_ratio"
COREGISTER = "w_coregister"
RULE_PREFIX = "w_rule_"
CHANGE_PREFIX = "w_change_"

#: rule -> (label, unit step, upper bound, help)
RULES: dict[str, tuple[str, float, float, str]] = {
    "min_slope_deg": ("Min. mean slope (deg)", 1.0, 90.0,
                      "Landslides start on slopes: an object gentler than this is not one (fields, floodplains)."),
    "min_height_above_valley_m": ("Min. height above valley floor (m)", 1.0, 500.0,
                                  "Mean height above the lowest ground within the valley radius."),
    "min_relative_height": ("Min. position on the slope (0-1)", 0.05, 1.0,
                            "0 = valley floor, 1 = highest ground around; rivers stay near 0."),
    "max_rectangularity": ("Max. rectangularity (0-1)", 0.01, 1.0,
                           "Blocky objects (fields, clear-cuts) at least this rectangular are rejected."),
    "min_compactness": ("Min. compactness (0-1)", 0.01, 1.0,
                        "Thread-like, ragged objects (rivers, gravel bars) below this are rejected."),
    "min_downslope_alignment": ("Min. alignment with the slope (0-1)", 0.05, 1.0,
                                "Long objects lying along the contour (roads, terraces) below this are rejected."),
}
#: change setting -> (label, step, upper bound, help)
CHANGE: dict[str, tuple[str, float, float, str]] = {
    "min_ndvi_drop": ("Min. NDVI drop vs surroundings", 0.01, 2.0,
                      "A new landslide lost at least this much NDVI more than the ground around it."),
    "min_brightness_rise": ("Min. brightness rise vs surroundings (ln)", 0.01, 2.0,
                            "... and got at least this much brighter (natural log of the ratio)."),
}


#: Settings that are maxima (their upper end switches them off); the others are minima (0: off).
MAXIMA = ("max_rectangularity",)


def _off_value(name: str, upper: float) -> float:
    return float(upper) if name in MAXIMA else 0.0


def _widget_value(name: str, setting: Any, upper: float) -> float:
    return _off_value(name, upper) if setting is None else float(setting)


def _defaults() -> dict[str, Any]:
    rules, change = ObjectRules(), ChangeSettings()
    out: dict[str, Any] = {GROW_RATIO: DEFAULT_GROW_RATIO, COREGISTER: True}
    out.update({RULE_PREFIX + k: _widget_value(k, getattr(rules, k), spec[2]) for k, spec in RULES.items()})
    out.update({CHANGE_PREFIX + k: _widget_value(k, getattr(change, k), spec[2]) for k, spec in CHANGE.items()})
    return out


KEYS: tuple[str, ...] = tuple(_defaults())


def init() -> None:
    for key, value in _defaults().items():
        st.session_state.setdefault(key, value)


def _number(col, name: str, spec: tuple[str, float, float, str], key: str) -> None:
    label, step, upper, help_text = spec
    off = _off_value(name, upper)
    if st.session_state.get(key) is None:
        st.session_state[key] = off
    col.number_input(label, min_value=0.0, max_value=float(upper), step=float(step), key=key,
                     help=f"{help_text} {off:g} switches it off.", format="%.2f")


def _setting(name: str, value: Any, upper: float) -> Any:
    """The widget's value as the setting: its "off" end becomes None."""
    if value is None or float(value) == _off_value(name, upper):
        return None
    return float(value)


def widgets() -> None:
    """The settings, in a panel of their own inside the advanced settings."""
    init()
    ss = st.session_state
    st.markdown("**Objects and change** (what counts as a landslide, and as a new one)")
    c1, c2, c3 = st.columns(3)
    c1.slider("Grow ratio (hysteresis)", min_value=0.3, max_value=1.0, step=0.05, key=GROW_RATIO,
              help="Objects are seeded at the threshold and grow over pixels at this share of it "
                   "(1 = a single cut).")
    c2.checkbox("Co-register the dates", key=COREGISTER,
                help="Estimate the sub-pixel shift between the two dates and correct it before comparing.")
    if c3.button("Defaults", key="w_objects_defaults", help="Put every setting here back to its default."):
        for key, value in _defaults().items():
            ss[key] = value
        st.rerun()
    cols = st.columns(3)
    for i, (name, spec) in enumerate(RULES.items()):
        _number(cols[i % 3], name, spec, RULE_PREFIX + name)
    cols = st.columns(3)
    for i, (name, spec) in enumerate(CHANGE.items()):
        _number(cols[i % 3], name, spec, CHANGE_PREFIX + name)


def chosen() -> dict[str, Any]:
    """The DetectionOptions fields these settings decide (rules and change settings validated)."""
    init()
    ss = st.session_state
    rules = dataclasses.replace(ObjectRules(), **{k: _setting(k, ss.get(RULE_PREFIX + k), spec[2])
                                                  for k, spec in RULES.items()})
    change = dataclasses.replace(ChangeSettings(), **{k: _setting(k, ss.get(CHANGE_PREFIX + k), spec[2])
                                                      for k, spec in CHANGE.items()})
    return {"grow_ratio": float(ss.get(GROW_RATIO) or DEFAULT_GROW_RATIO), "rules": rules.validate(),
            "change": change.validate(), "coregister": bool(ss.get(COREGISTER, True))}
