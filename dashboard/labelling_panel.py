"""The labelling section of the Datasets page: the ROI to label, its synchronised views, the
drawing map, the suggestion, quality flags, and accept/skip/next/previous with keyboard keys
(Streamlit's own button shortcuts: A, S, N, P). Every change is saved to the dataset at once."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import streamlit as st

from landslide_core.datasets import QUALITY_FLAGS, DatasetStore, RoiLabel
from landslide_core.errors import InputError

from . import state
from .datasets import (BRUSH_KEY, DS_ROI, DS_VERSION, LABELLER_KEY, MODE_KEY, MODEL_KEY, ROI_SELECT, STATUS_MARK,
                       SUGGEST_FIRST, VIEW_KEY, notice)
from .errors import show_error
from .i18n import t


def model_choices() -> dict[str, str]:
    """name -> card path of every usable model (the models folder, then the project's), 'index' first."""
    from landslide_core.checkpoint import model_dirs, scan_models

    out: dict[str, str] = {}
    for folder in model_dirs():
        for m in scan_models(folder):
            if m.usable and m.path.stem not in out:
                out[m.path.stem] = str(m.path)
    return dict(sorted(out.items(), key=lambda kv: (kv[0] != "index", kv[0])))


@st.cache_resource(show_spinner=False, max_entries=4)
def _loaded_model(card_path: str, mtime: float):
    from landslide_core.detection import load_model

    return load_model(card_path)


def _suggestion(store: DatasetStore, roi_id: str, card_path: str) -> list[dict[str, Any]]:
    from landslide_core.datasets.suggest import suggest

    loaded = _loaded_model(card_path, Path(card_path).stat().st_mtime)
    return suggest(store, roi_id, card_path, loaded)


@st.cache_data(show_spinner=False, max_entries=64)
def _views(post: str, pre: Optional[str], stamp: float) -> dict[str, Any]:
    from landslide_core.datasets.views import roi_views, view_overlays

    v = roi_views(post, pre)
    urls, bounds = view_overlays(v)
    return {"images": v.images, "transform": tuple(v.transform), "crs": v.crs.to_string(), "urls": urls,
            "bounds": bounds, "shape": v.shape, "elevation": v.elevation_range_m}


def _ordered(store: DatasetStore) -> list[str]:
    return [i for i in store.roi_ids() if store.has_scene(i)]


def _goto(ids: list[str], current: str, step: int, store: Optional[DatasetStore] = None) -> None:
    """Move to the next/previous ROI; with ``store``, to the next one still to do (else the next)."""
    i = ids.index(current) if current in ids else 0
    target = ids[(i + step) % len(ids)]
    if store is not None:
        for k in range(1, len(ids) + 1):
            cand = ids[(i + k) % len(ids)]
            if store.label(cand).status == "todo" and cand != current:
                target = cand
                break
    st.session_state[DS_ROI] = target
    st.session_state[DS_VERSION] = st.session_state.get(DS_VERSION, 0) + 1


def _save(store: DatasetStore, label: RoiLabel, actions: int = 1) -> None:
    label.actions += actions
    label.labeller = st.session_state.get(LABELLER_KEY) or label.labeller
    store.save_label(label)
    st.session_state[DS_VERSION] = st.session_state.get(DS_VERSION, 0) + 1


def render_labelling(store: DatasetStore) -> None:
    ss = st.session_state
    ids = _ordered(store)
    if not ids:
        st.info(t("datasets.no_imagery"), icon=":material/info:")
        return
    if ss.get(DS_ROI) not in ids:
        todo = [i for i in ids if store.label(i).status == "todo"]
        ss[DS_ROI] = (todo or ids)[0]
    current = ss[DS_ROI]
    ss[ROI_SELECT] = current
    statuses = {i: store.label(i) for i in ids}
    models = model_choices()
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
    c1.selectbox(t("datasets.roi"), ids, key=ROI_SELECT,
                 format_func=lambda i: f"{STATUS_MARK[statuses[i].status]} {ids.index(i) + 1}. {i}"
                                       + (" ⚑" if statuses[i].flags else ""),
                 on_change=lambda: ss.update({DS_ROI: ss[ROI_SELECT]}))
    if not models:
        c2.error(t("datasets.no_model"))
        model_path = None
    else:
        if ss.get(MODEL_KEY) not in models:
            ss[MODEL_KEY] = next(iter(models))
        c2.selectbox(t("datasets.suggestion_model"), list(models), key=MODEL_KEY, help=t("datasets.suggestion_model_help"))
        model_path = models[ss[MODEL_KEY]]
    c3.text_input(t("datasets.labeller"), key=LABELLER_KEY, placeholder=t("datasets.labeller_placeholder"))
    c4.checkbox(t("datasets.start_from_suggestion"), value=True, key=SUGGEST_FIRST,
                help=t("datasets.start_from_suggestion_help"))

    roi = store.roi(current)
    crs = roi.grid().crs
    label = statuses[current]
    suggestion = None
    if model_path:
        try:
            suggestion = _suggestion(store, current, model_path)
        except Exception as exc:  # noqa: BLE001 - labelling goes on without a suggestion
            show_error(exc)
    if (suggestion is not None and ss.get(SUGGEST_FIRST, True) and label.status == "todo" and not label.features
            and not label.suggestion_model and not label.actions):
        label.features, label.suggestion_model = list(suggestion), ss[MODEL_KEY]
        store.save_label(label)

    post, pre = store.scene_path(current), store.scene_path(current, "pre")
    views = _views(str(post), str(pre) if pre.is_file() else None,
                   post.stat().st_mtime + (pre.stat().st_mtime if pre.is_file() else 0))
    _render_views(views, label, suggestion, roi)
    left, right = st.columns([3, 1], gap="medium")
    with right:
        _render_tools(store, label, suggestion, ids, views)
    with left:
        _render_map(store, label, suggestion, roi, crs, views)


def view_title(key: str, titles: dict[str, str]) -> str:
    """A view's title in the session's language (the core's English for an unknown view)."""
    from landslide_core.i18n import has

    return t(f"datasets.view.{key}") if has(f"datasets.view.{key}") else titles.get(key, key)


def _render_views(views: dict[str, Any], label: RoiLabel, suggestion: Optional[list], roi) -> None:
    import numpy as np
    from rasterio.transform import Affine

    from landslide_core.datasets.views import VIEW_TITLES, decorate, patch_box
    from landslide_core.patches import polygon_mask

    transform = Affine(*views["transform"][:6])
    shape = tuple(views["shape"])
    lab = polygon_mask(label.features, transform, shape, views["crs"])
    sug = polygon_mask(suggestion, transform, shape, views["crs"]) if suggestion else None
    box = patch_box(shape)
    cols = st.columns(len(views["images"]))
    for col, (key, img) in zip(cols, views["images"].items()):
        title = view_title(key, VIEW_TITLES) + (f" ({views['elevation'][0]:,.0f}-{views['elevation'][1]:,.0f} m)"
                                                if key == "elevation" else "")
        col.image(decorate(np.asarray(img), lab, sug, box), caption=title, width="stretch")
    st.caption(t("datasets.views_legend"))


def _render_tools(store: DatasetStore, label: RoiLabel, suggestion: Optional[list], ids: list[str],
                  views: dict[str, Any]) -> None:
    from landslide_core.datasets.labels import label_area_m2
    from landslide_core.datasets.views import VIEW_TITLES

    ss = st.session_state
    roi = store.roi(label.roi_id)
    area_ha = label_area_m2(label.features, roi.grid().crs) / 1e4
    st.markdown(t("datasets.roi_of", n=ids.index(label.roi_id) + 1, total=len(ids),
                  status=t(f"datasets.status.{label.status}") if label.status in STATUS_MARK else label.status)
                + (t("datasets.flagged", flags=", ".join(label.flags)) if label.flags else ""))
    st.caption(t("datasets.label_line", polygons=len(label.features), ha=f"{area_ha:.2f}", actions=label.actions)
               + (t("datasets.started_from", model=label.suggestion_model) if label.suggestion_model else ""))
    keys = list(views["images"])
    if ss.get(VIEW_KEY) not in keys:
        ss[VIEW_KEY] = keys[0]
    st.radio(t("datasets.map_shows"), keys, key=VIEW_KEY, format_func=lambda k: view_title(k, VIEW_TITLES))
    st.radio(t("datasets.drawing"), ("add", "erase"), key=MODE_KEY, horizontal=True,
             format_func=lambda m: t(f"datasets.mode.{m}"))
    st.slider(t("datasets.brush"), 10, 100, 20, 10, key=BRUSH_KEY)
    if st.button(t("datasets.use_suggestion"), key="ds_use_suggestion", disabled=not suggestion, width="stretch",
                 help=t("datasets.use_suggestion_help")):
        label.features, label.suggestion_model = list(suggestion or []), ss.get(MODEL_KEY, "")
        _save(store, label)
        st.rerun()
    if st.button(t("datasets.clear"), key="ds_clear", width="stretch", help=t("datasets.clear_help")):
        label.features = []
        _save(store, label)
        st.rerun()
    st.markdown(t("datasets.quality"))
    for flag, meaning in QUALITY_FLAGS.items():
        known = flag in ("cloud", "noise", "not_a_landslide")
        on = st.checkbox(t(f"datasets.flag.{flag}") if known else flag.replace("_", " "), value=flag in label.flags,
                         key=f"ds_flag_{flag}_{label.roi_id}", help=t(f"datasets.flag.{flag}_help") if known else meaning)
        if on != (flag in label.flags):
            label.flags = sorted(set(label.flags) ^ {flag})
            _save(store, label)
            st.rerun()
    a1, a2 = st.columns(2)
    if a1.button(t("datasets.accept"), key="ds_accept", type="primary", shortcut="A", width="stretch",
                 help=t("datasets.accept_help")):
        label.status = "labelled"
        _save(store, label)
        notice(t("datasets.accepted", roi=label.roi_id, polygons=len(label.features)))
        _goto(ids, label.roi_id, 1, store)
        st.rerun()
    if a2.button(t("datasets.skip"), key="ds_skip", shortcut="S", width="stretch", help=t("datasets.skip_help")):
        label.status = "skipped"
        _save(store, label)
        _goto(ids, label.roi_id, 1, store)
        st.rerun()
    n1, n2 = st.columns(2)
    if n1.button(t("datasets.previous"), key="ds_prev", shortcut="P", width="stretch", help=t("datasets.previous_help")):
        _goto(ids, label.roi_id, -1)
        st.rerun()
    if n2.button(t("datasets.next"), key="ds_next", shortcut="N", width="stretch", help=t("datasets.next_help")):
        _goto(ids, label.roi_id, 1)
        st.rerun()


def _render_map(store: DatasetStore, label: RoiLabel, suggestion: Optional[list], roi, crs,
                views: dict[str, Any]) -> None:
    from streamlit_folium import st_folium

    from landslide_core.datasets.views import patch_footprints

    from .labelling import apply_drawings, label_map

    ss = st.session_state
    brush = float(ss.get(BRUSH_KEY, 20))
    m, rendered = label_map(views["urls"].get(ss.get(VIEW_KEY, "true")), views["bounds"], roi.footprint(),
                            patch_footprints(roi.grid()), label.features, suggestion, brush,
                            basemaps=bool(ss.get(state.BASEMAPS, False)))
    version = ss.get(DS_VERSION, 0)
    out = st_folium(m, key=f"ds_label_map_{label.roi_id}_{version}_{ss.get(VIEW_KEY)}_{int(brush)}", height=560,
                    use_container_width=True, returned_objects=["all_drawings"])
    st.caption(t("datasets.tools"))
    drawings = (out or {}).get("all_drawings") if isinstance(out, dict) else None
    try:
        new = apply_drawings(drawings, rendered, label.features, crs, ss.get(MODE_KEY, "add"), brush)
    except InputError as exc:
        show_error(exc)
        return
    if new is not None and new != label.features:
        label.features = new
        _save(store, label)
        st.rerun()


