"""The Datasets page's sections: choose or create a dataset, add ROIs and fetch their imagery,
export to the Landslide4Sense layout, merge, train (the labelling: :mod:`dashboard.labelling_panel`).

State lives under a few ``ds_`` keys; every label change is written to the dataset folder at
once (nothing is lost on a reload), and every failure is shown as a message.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import streamlit as st

from landslide_core.datasets import DatasetSpec, DatasetStore, datasets_root, list_datasets
from landslide_core.errors import InputError
from landslide_core.i18n import user_error

from . import state
from .errors import show_error
from .i18n import t

DS_DIR = "ds_dir"            # the open dataset's folder (str)
DS_ROI = "ds_roi"            # the ROI being labelled (id)
DS_VERSION = "ds_version"    # bumps on every label change: a fresh map component
DS_EXPORT = "ds_export_dir"  # the last export folder (str)
DS_AREA = "ds_area"          # the last area drawn on the ROI map (GeoJSON geometry)
DS_SEEN = "ds_drawing_seen"  # signature of the last drawing taken from the ROI map
DS_NOTICE = "ds_notice"      # a message to show after a rerun
SUGGEST_FIRST = "ds_suggest_first"
MODEL_KEY = "ds_model"
VIEW_KEY = "ds_view"
MODE_KEY = "ds_mode"
BRUSH_KEY = "ds_brush_m"
LABELLER_KEY = "ds_labeller"
ROI_SELECT = "ds_roi_select"
STATUS_MARK = {"todo": "○", "labelled": "●", "skipped": "–"}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-") or "dataset"


def notice(text: str) -> None:
    st.session_state[DS_NOTICE] = text


def show_notice() -> None:
    text = st.session_state.pop(DS_NOTICE, None)
    if text:
        st.success(text, icon=":material/check_circle:")


def open_store() -> Optional[DatasetStore]:
    path = st.session_state.get(DS_DIR)
    if not path:
        return None
    try:
        return DatasetStore(path)
    except InputError as exc:
        show_error(exc)
        st.session_state[DS_DIR] = None
        return None


# ---------------------------------------------------------------- 1. the dataset


def render_dataset_picker() -> Optional[DatasetStore]:
    """Open an existing dataset or create one; returns the open one."""
    ss = st.session_state
    root = datasets_root()
    found = [str(p) for p in list_datasets(root)]
    current = ss.get(DS_DIR)
    options = found + ([current] if current and current not in found else [])
    c1, c2 = st.columns([3, 2], gap="medium")
    with c1:
        if options:
            index = options.index(current) if current in options else 0
            chosen = st.selectbox(t("datasets.dataset"), options, index=index, key="ds_pick",
                                  format_func=lambda p: Path(p).name, help=t("datasets.dataset_help", root=str(root)))
            if chosen != current:
                ss[DS_DIR], ss[DS_ROI] = chosen, None
        else:
            st.info(t("datasets.none"), icon=":material/info:")
        folder = st.text_input(t("datasets.open_folder"), key="ds_open_path", placeholder="/data/my-dataset")
        if st.button(t("home.open"), key="ds_open"):
            try:
                ss[DS_DIR], ss[DS_ROI] = str(DatasetStore(folder.strip()).root), None
                st.rerun()
            except InputError as exc:
                show_error(exc)
    with c2, st.expander(t("datasets.new"), expanded=not options):
        render_create_form(root)
    return open_store()


def render_create_form(root: Path) -> None:
    ss = st.session_state
    demo = state.demo_defaults()
    name = st.text_input(t("watch.name"), key="ds_new_name", placeholder="L4S-PE Junin")
    source = st.selectbox(t("monitor.source"), ("demo", "earthengine"), key="ds_new_source",
                          format_func=state.source_label)
    c1, c2 = st.columns(2)
    start = c1.date_input(t("datasets.scenes_from"), demo.post[0], key="ds_new_start")
    end = c2.date_input(t("datasets.to"), demo.post[1], key="ds_new_end")
    with_pre = st.checkbox(t("datasets.with_pre"), value=True, key="ds_new_with_pre")
    pre = (None, None)
    if with_pre:
        p1, p2 = st.columns(2)
        pre = (p1.date_input(t("datasets.pre_from"), demo.pre[0], key="ds_new_pre_start"),
               p2.date_input(t("datasets.to"), demo.pre[1], key="ds_new_pre_end"))
    c3, c4 = st.columns(2)
    cloud = c3.number_input(t("monitor.cloud_limit"), 0.0, 100.0, 30.0, 5.0, key="ds_new_cloud")
    size = c4.number_input(t("datasets.roi_size"), 640.0, 10000.0, 1500.0, 100.0, key="ds_new_size",
                           help=t("datasets.roi_size_help"))
    if st.button(t("datasets.create"), type="primary", key="ds_create", icon=":material/add:"):
        try:
            if not name.strip():
                raise user_error(InputError, "errors.dataset_no_name")
            spec = DatasetSpec(name=name, source=source, window=(str(start), str(end)),
                               pre_window=(str(pre[0]), str(pre[1])) if with_pre else None,
                               cloud_limit_pct=float(cloud), roi_size_m=float(size))
            store = DatasetStore.create(root / _slug(name), spec)
            ss[DS_DIR], ss[DS_ROI] = str(store.root), None
            notice(t("datasets.created", name=spec.name, folder=str(store.root)))
            st.rerun()
        except InputError as exc:
            show_error(exc)


def render_summary(store: DatasetStore) -> dict[str, int]:
    s = store.summary()
    cols = st.columns(6)
    for col, key in zip(cols, ("rois", "with_imagery", "labelled", "skipped", "flagged", "exportable")):
        col.metric(t(f"datasets.metric.{key}"), s[key])
    spec = store.spec
    st.caption(t("datasets.summary_source", source=state.source_label(spec.source), start=spec.window[0],
                 end=spec.window[1])
               + (t("datasets.summary_pre", start=spec.pre_window[0], end=spec.pre_window[1]) if spec.pre_window else "")
               + t("datasets.summary_rest", cloud=f"{spec.cloud_limit_pct:g}", size=f"{spec.roi_size_m:,.0f}",
                   folder=str(store.root)))
    return s


# ---------------------------------------------------------------- 2. ROIs and imagery


def _add(store: DatasetStore, rois: list) -> None:
    result = store.add_rois(rois)
    notice(t("datasets.added", count=len(result.added))
           + (t("datasets.already", count=len(result.already)) if result.already else "") + ".")


def render_rois(store: DatasetStore) -> None:
    from landslide_core.datasets.rois import rois_from_bytes, sample_rois

    ss = st.session_state
    size = store.spec.roi_size_m
    how = st.radio(t("datasets.add_how"), ("file", "draw", "sample"), horizontal=True, key="ds_add_how",
                   format_func=lambda k: t(f"datasets.how.{k}"))
    if how == "file":
        up = st.file_uploader(t("datasets.upload"), type=["geojson", "json", "csv"], key="ds_upload")
        if up is not None and st.button(t("datasets.add_these"), key="ds_add_file"):
            try:
                _add(store, rois_from_bytes(up.getvalue(), up.name, size))
                st.rerun()
            except InputError as exc:
                show_error(exc)
    elif how == "draw":
        st.caption(t("datasets.draw_help"))
        _draw_rois_map(store)
    else:
        area = ss.get(DS_AREA)
        demo = state.demo_defaults()
        where = t("datasets.where_drawn") if area else t("datasets.where_demo")
        c1, c2 = st.columns(2)
        count = c1.number_input(t("datasets.how_many"), 1, 5000, 5, key="ds_sample_count")
        seed = c2.number_input(t("train.practice_seed"), 0, 2**31 - 1, 0, key="ds_sample_seed")
        if st.button(t("datasets.sample_over", where=where), key="ds_sample"):
            try:
                _add(store, sample_rois(area or demo.aoi, int(count), size, int(seed)))
                st.rerun()
            except InputError as exc:
                show_error(exc)
    ids = store.roi_ids()
    missing = [i for i in ids if not store.has_scene(i)]
    if ids:
        label = t("datasets.fetch", count=len(missing)) if missing else t("datasets.all_fetched")
        if st.button(label, key="ds_fetch", disabled=not missing, icon=":material/download:",
                     help=t("datasets.fetch_help")):
            _fetch(store, missing)


def _draw_rois_map(store: DatasetStore) -> None:
    from folium import plugins
    from streamlit_folium import st_folium

    from landslide_core.datasets.rois import rois_covering

    from . import maps, offline_assets

    ss = st.session_state
    rois = store.rois()
    demo = state.demo_defaults()
    from landslide_core.sources.aoi import aoi_bounds

    w, s, e, n = aoi_bounds(ss.get(DS_AREA) or demo.aoi)
    m = maps.new_map([(s + n) / 2, (w + e) / 2], zoom=12, basemaps=bool(ss.get(state.BASEMAPS, False)))
    import folium

    for r in rois[:2000]:
        folium.GeoJson({"type": "Feature", "geometry": r.footprint(), "properties": {"id": r.id}},
                       style_function=lambda _f: {"color": "#ffe600", "weight": 1, "fillOpacity": 0.1},
                       tooltip=r.id).add_to(m)
    plugins.Draw(export=False, position="topleft", show_geometry_on_click=False,
                 draw_options={"polyline": False, "circle": False, "circlemarker": False,
                               "marker": True, "polygon": {"allowIntersection": False}, "rectangle": True},
                 edit_options={"edit": False, "remove": False}).add_to(m)
    if rois:
        m.fit_bounds(maps.geometry_bounds_latlon({"type": "MultiPolygon", "coordinates": [
            r.footprint()["coordinates"] for r in rois[:2000]]}))
    offline_assets.localize(m)
    out = st_folium(m, key="ds_rois_map", height=420, use_container_width=True,
                    returned_objects=["last_active_drawing"])
    drawing = (out or {}).get("last_active_drawing") if isinstance(out, dict) else None
    if not isinstance(drawing, dict) or not drawing.get("geometry"):
        return
    sig = state.signature(drawing["geometry"])
    if ss.get(DS_SEEN) == sig:
        return
    ss[DS_SEEN] = sig
    try:
        if drawing["geometry"].get("type") in ("Polygon", "MultiPolygon"):
            ss[DS_AREA] = drawing["geometry"]
        _add(store, rois_covering(drawing, store.spec.roi_size_m))
        st.rerun()
    except InputError as exc:
        show_error(exc)


def _fetch(store: DatasetStore, ids: list[str]) -> None:
    from landslide_core.datasets.imagery import fetch_rois

    bar = st.progress(0.0, text=t("datasets.fetching"))
    try:
        report = fetch_rois(store, ids, source=_source(store),
                            progress=lambda d, n, s: bar.progress(d / max(n, 1),
                                                                  text=t("datasets.fetching_n", done=d, total=n)))
        bar.empty()
        notice(t("datasets.imagery", report=report.text())
               + (t("datasets.failed", list="; ".join(f"{k}: {v}" for k, v in list(report.failed.items())[:3]))
                  if report.failed else ""))
        st.rerun()
    except Exception as exc:  # noqa: BLE001 - shown as a message
        bar.empty()
        show_error(exc)


def _source(store: DatasetStore):
    """The dataset's source, sharing the dashboard's scene cache."""
    import os

    from . import ui

    if store.spec.source in ("demo", "earthengine") and not store.spec.source_options:
        return ui.shared_source(store.spec.source, os.environ.get("LANDSLIDE_CACHE_DIR"))
    from landslide_core.sources import get_source

    return get_source(store.spec.source, **store.spec.source_options)


# ---------------------------------------------------------------- 4. export, merge, train


def render_export(store: DatasetStore, summary: dict[str, int]) -> None:
    from landslide_core.datasets.export import export_dataset

    ss = st.session_state
    default = str(datasets_root() / f"{store.root.name}-export")
    c1, c2, c3 = st.columns([3, 1, 1])
    out = c1.text_input(t("datasets.export_folder"), value=default, key="ds_export_path",
                        help=t("datasets.export_folder_help"))
    share = c2.number_input(t("train.val_share"), 0.05, 0.5, 0.2, 0.05, key="ds_val_share")
    seed = c3.number_input(t("datasets.split_seed"), 0, 2**31 - 1, 0, key="ds_split_seed")
    replace = st.checkbox(t("datasets.replace"), key="ds_export_replace")
    if st.button(t("datasets.export", count=summary["exportable"]), key="ds_export", type="primary",
                 icon=":material/output:", disabled=summary["exportable"] == 0):
        try:
            target = Path(out.strip()).expanduser()
            if replace and target.exists():
                _clear_export(target)
            manifest = export_dataset(store, target, float(share), int(seed))
            ss[DS_EXPORT] = str(target)
            notice(t("datasets.exported", count=len(manifest["patches"]), train=manifest["split"]["train"],
                     val=manifest["split"]["val"], folder=str(target), excluded=len(manifest["excluded"])))
            st.rerun()
        except Exception as exc:  # noqa: BLE001 - shown as a message
            show_error(exc)
    last = ss.get(DS_EXPORT)
    if last:
        st.caption(t("datasets.last_export", folder=last))
        if st.button(t("datasets.train"), key="ds_train", icon=":material/model_training:"):
            from .training import DATA_PENDING

            ss[DATA_PENDING] = last  # the Training page puts it in its data folder field
            st.switch_page("pages/3_Training.py")


def _clear_export(target: Path) -> None:
    """Remove an earlier export's files (only Landslide4Sense files and the manifest)."""
    from landslide_core.patches.export import MANIFEST_FILE

    if not (target / MANIFEST_FILE).is_file():
        raise InputError(f"{target} is not an earlier export (no {MANIFEST_FILE}).",
                         "Choose another folder; only an export's own files are replaced.")
    for sub in ("img", "mask"):
        for f in (target / sub).glob("*.h5"):
            f.unlink()
    for name in (MANIFEST_FILE, "split.json"):
        (target / name).unlink(missing_ok=True)


def render_merge() -> None:
    from landslide_core.patches import merge_datasets

    ss = st.session_state
    st.caption(t("datasets.merge_help"))
    sources = st.text_area(t("datasets.merge_sources"), key="ds_merge_sources",
                           value="\n".join(p for p in [ss.get(DS_EXPORT)] if p))
    out = st.text_input(t("datasets.merged_folder"), key="ds_merge_out", value=str(datasets_root() / "merged"))
    if st.button(t("datasets.merge"), key="ds_merge"):
        try:
            folders = [s.strip() for s in sources.splitlines() if s.strip()]
            if len(folders) < 2:
                raise user_error(InputError, "errors.merge_two")
            manifest = merge_datasets(folders, out.strip())
            ss[DS_EXPORT] = out.strip()
            notice(t("datasets.merged", count=len(manifest["patches"]), folder=out.strip()))
            st.rerun()
        except Exception as exc:  # noqa: BLE001 - shown as a message
            show_error(exc)
