"""Session state: a few well-named keys, their defaults, and what survives a page change.

Streamlit forgets a widget's value when a page without that widget runs. :func:`keep` writes
every known widget value back as plain session state at the top of each page, so the AOI,
the dates and the settings stay across pages and reruns.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import streamlit as st

# --- keys (not widgets) ---
AOI = "aoi"                      # GeoJSON geometry (EPSG:4326) or None
AOI_LABEL = "aoi_label"          # where the AOI came from, in words
AOI_ERROR = "aoi_error"          # the last AOI input error (message), shown until a good AOI
DRAWING_SEEN = "drawing_seen"    # signature of the last drawing taken from the map
UPLOAD_SEEN = "upload_seen"      # signature of the last uploaded file taken
JOB = "analysis_job"             # dashboard.jobs.AnalysisJob of the running/last analysis
RESULT_FOLDER = "result_folder"  # folder of the analysis shown on the Compare page
LOCATE_ID = "locate_id"          # id of the landslide located on the Compare map
CMP_SHOWN = "cmp_shown"          # (result folder, threshold) whose figures the Compare page shows

# --- widget keys (kept across pages by keep()) ---
PRE_START, PRE_END = "w_pre_start", "w_pre_end"
POST_START, POST_END = "w_post_start", "w_post_end"
CLOUD_LIMIT = "w_cloud_limit_pct"
SOURCE = "w_source"
MODEL = "w_model"
THRESHOLD = "w_threshold"
OVERLAP = "w_overlap_px"
COMPOSITE = "w_composite"
BASEMAPS = "w_basemaps"
BBOX_W, BBOX_S, BBOX_E, BBOX_N = "w_bbox_west", "w_bbox_south", "w_bbox_east", "w_bbox_north"
CMP_THRESHOLD = "w_cmp_threshold"
CMP_OPACITY = "w_cmp_opacity_pct"

def _object_setting_keys() -> tuple[str, ...]:
    from dashboard.object_settings import KEYS

    return KEYS


WIDGET_KEYS = (PRE_START, PRE_END, POST_START, POST_END, CLOUD_LIMIT, SOURCE, MODEL, THRESHOLD,
               OVERLAP, COMPOSITE, BASEMAPS, BBOX_W, BBOX_S, BBOX_E, BBOX_N, CMP_THRESHOLD,
               CMP_OPACITY) + _object_setting_keys()

SOURCES = ("demo", "earthengine", "local")
#: English labels (logs, tests); pages show :func:`source_label`.
SOURCE_LABELS = {"demo": "Demo (synthetic event, offline)", "earthengine": "Earth Engine (Sentinel-2 L1C)",
                 "local": "Local files (scene GeoTIFFs)"}


def source_label(name: str) -> str:
    """A source's name in the session's language."""
    from landslide_core.i18n import has

    from .i18n import t

    return t(f"ui.source.{name}") if has(f"ui.source.{name}") else SOURCE_LABELS.get(name, name)
DEFAULT_CLOUD_LIMIT_PCT = 30.0
#: = landslide_core.predictor.DEFAULT_OVERLAP_PX (not imported: that module loads torch)
DEFAULT_OVERLAP_PX = 64
#: Largest AOI file accepted (GeoJSON/KML of one polygon is a few kB).
MAX_AOI_FILE_BYTES = 1_000_000


def models_dir() -> Path:
    """env LANDSLIDE_MODELS_DIR, else the project's models/ folder."""
    from landslide_core.checkpoint import MODELS_DIR

    env = os.environ.get("LANDSLIDE_MODELS_DIR")
    return Path(env).expanduser() if env else MODELS_DIR


def results_root() -> Path:
    from landslide_core.analysis import default_results_root

    return default_results_root()


@dataclass
class DemoDefaults:
    name: str
    aoi: dict
    pre: tuple[dt.date, dt.date]
    post: tuple[dt.date, dt.date]


def demo_defaults() -> DemoDefaults:
    """The demo event preselected in the dashboard (landslide_core.synthetic.DEMO_EVENT)."""
    from landslide_core.synthetic import DEMO_EVENT

    def dates(pair) -> tuple[dt.date, dt.date]:
        a, b = pair
        conv = (lambda d: d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)))
        return conv(a), conv(b)

    return DemoDefaults(name=str(getattr(DEMO_EVENT, "name", "Demo event")), aoi=dict(DEMO_EVENT.aoi),
                        pre=dates(DEMO_EVENT.pre_window), post=dates(DEMO_EVENT.post_window))


def set_demo_event(only_missing: bool = False) -> None:
    """Put the demo event's AOI, windows and source in the state (before widgets are drawn).

    ``only_missing``: keep values already there (a test or an earlier page may have set them).
    """
    demo = demo_defaults()
    ss = st.session_state
    from .i18n import t

    values = {AOI: demo.aoi, AOI_LABEL: t("ui.demo_label"), AOI_ERROR: None,
              PRE_START: demo.pre[0], PRE_END: demo.pre[1], POST_START: demo.post[0],
              POST_END: demo.post[1], SOURCE: "demo"}
    for key, value in values.items():
        if not only_missing or key not in ss:
            ss[key] = value


def use_demo_event() -> None:
    """Button callback: the demo event replaces the current inputs."""
    set_demo_event(only_missing=False)


def init() -> None:
    """Defaults for a new session (the demo event preselected), then keep all widget values.

    Values already in the session (set by a test, or kept from another page) are not replaced.
    """
    ss = st.session_state
    if "_initialised" not in ss:
        try:
            set_demo_event(only_missing=True)
        except Exception:  # noqa: BLE001 - no demo: start with no area and recent windows
            import logging

            logging.getLogger("landslide.dashboard").exception("The demo event could not be loaded")
            today = dt.date.today()
            for key, value in {AOI: None, AOI_LABEL: None, SOURCE: "demo",
                               PRE_START: today - dt.timedelta(days=120), PRE_END: today - dt.timedelta(days=61),
                               POST_START: today - dt.timedelta(days=60), POST_END: today}.items():
                ss.setdefault(key, value)
        # Last: a first run interrupted before this point (the user clicked on at once) starts over.
        ss["_initialised"] = True
    # Every run (a widget value Streamlit dropped comes back as its default, never as "online").
    from dashboard.maps import basemaps_default

    ss.setdefault(CLOUD_LIMIT, DEFAULT_CLOUD_LIMIT_PCT)
    ss.setdefault(OVERLAP, DEFAULT_OVERLAP_PX)
    ss.setdefault(COMPOSITE, "least_cloudy")
    ss.setdefault(BASEMAPS, basemaps_default())
    ss.setdefault(JOB, None)
    ss.setdefault(RESULT_FOLDER, None)
    keep()


def keep() -> None:
    """Re-assign widget values so Streamlit keeps them when a page without them runs."""
    ss = st.session_state
    for key in WIDGET_KEYS:
        if key in ss:
            ss[key] = ss[key]


def set_aoi(aoi: dict, label: str) -> None:
    st.session_state[AOI] = aoi
    st.session_state[AOI_LABEL] = label
    st.session_state[AOI_ERROR] = None


def signature(obj: Any) -> str:
    if isinstance(obj, (bytes, bytearray)):
        data = bytes(obj)
    else:
        data = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def get(key: str, default: Optional[Any] = None) -> Any:
    return st.session_state.get(key, default)
