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

from .i18n import t

GROW_RATIO = "w_grow_ratio"
COREGISTER = "w_coregister"
RULE_PREFIX = "w_rule_"
CHANGE_PREFIX = "w_change_"

#: rule -> (unit step, upper bound); label and help are the catalogue's monitor.rule.<name>[_help]
RULES: dict[str, tuple[float, float]] = {
    "min_slope_deg": (1.0, 90.0),
    "min_height_above_valley_m": (1.0, 500.0),
    "min_relative_height": (0.05, 1.0),
    "max_rectangularity": (0.01, 1.0),
    "min_compactness": (0.01, 1.0),
    "min_downslope_alignment": (0.05, 1.0),
}
#: change setting -> (step, upper bound); label and help: monitor.change.<name>[_help]
CHANGE: dict[str, tuple[float, float]] = {
    "min_ndvi_drop": (0.01, 2.0),
    "min_brightness_rise": (0.01, 2.0),
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
    out.update({RULE_PREFIX + k: _widget_value(k, getattr(rules, k), spec[1]) for k, spec in RULES.items()})
    out.update({CHANGE_PREFIX + k: _widget_value(k, getattr(change, k), spec[1]) for k, spec in CHANGE.items()})
    return out


KEYS: tuple[str, ...] = tuple(_defaults())


def init() -> None:
    for key, value in _defaults().items():
        st.session_state.setdefault(key, value)


def _number(col, name: str, spec: tuple[float, float], key: str, group: str) -> None:
    step, upper = spec
    off = _off_value(name, upper)
    if st.session_state.get(key) is None:
        st.session_state[key] = off
    col.number_input(t(f"monitor.{group}.{name}"), min_value=0.0, max_value=float(upper), step=float(step), key=key,
                     help=t("monitor.setting_help", help=t(f"monitor.{group}.{name}_help"), off=f"{off:g}"),
                     format="%.2f")


def _setting(name: str, value: Any, upper: float) -> Any:
    """The widget's value as the setting: its "off" end becomes None."""
    if value is None or float(value) == _off_value(name, upper):
        return None
    return float(value)


def widgets() -> None:
    """The settings, in a panel of their own inside the advanced settings."""
    init()
    ss = st.session_state
    st.markdown(t("monitor.objects_title"))
    c1, c2, c3 = st.columns(3)
    c1.slider(t("monitor.grow_ratio"), min_value=0.3, max_value=1.0, step=0.05, key=GROW_RATIO,
              help=t("monitor.grow_ratio_help"))
    c2.checkbox(t("monitor.coregister"), key=COREGISTER, help=t("monitor.coregister_help"))
    if c3.button(t("monitor.defaults"), key="w_objects_defaults", help=t("monitor.defaults_help")):
        for key, value in _defaults().items():
            ss[key] = value
        st.rerun()
    cols = st.columns(3)
    for i, (name, spec) in enumerate(RULES.items()):
        _number(cols[i % 3], name, spec, RULE_PREFIX + name, "rule")
    cols = st.columns(3)
    for i, (name, spec) in enumerate(CHANGE.items()):
        _number(cols[i % 3], name, spec, CHANGE_PREFIX + name, "change")


def chosen() -> dict[str, Any]:
    """The DetectionOptions fields these settings decide (rules and change settings validated)."""
    init()
    ss = st.session_state
    rules = dataclasses.replace(ObjectRules(), **{k: _setting(k, ss.get(RULE_PREFIX + k), spec[1])
                                                  for k, spec in RULES.items()})
    change = dataclasses.replace(ChangeSettings(), **{k: _setting(k, ss.get(CHANGE_PREFIX + k), spec[1])
                                                      for k, spec in CHANGE.items()})
    return {"grow_ratio": float(ss.get(GROW_RATIO) or DEFAULT_GROW_RATIO), "rules": rules.validate(),
            "change": change.validate(), "coregister": bool(ss.get(COREGISTER, True))}
