"""The Compare page's parts: cached re-thresholded view, maps, statistics, table, downloads."""
from __future__ import annotations

from typing import Any, Optional

import streamlit as st

from landslide_core import analysis, display

from . import history, maps, state, ui
from .i18n import lang, t, t_count

def _swatch(rgba, label: str) -> str:
    r, g, b, a = rgba
    return (f'<span style="display:inline-block;width:0.9em;height:0.9em;margin:0 0.3em 0 0.9em;'
            f'vertical-align:middle;border:1px solid #555;background:rgba({r},{g},{b},{a / 255:.2f})"></span>{label}')


#: Catalogue keys of the change classes (display.CHANGE_CLASSES).
CLASS_KEYS = {1: "report.map.new", 2: "report.map.persisting", 3: "report.map.vanished", 255: "report.map.not_assessable"}


def legend() -> str:
    """The map legend in the session's language."""
    return ('<div style="font-size:0.9rem">'
            + "".join(_swatch(display.CHANGE_CLASSES[c][1], t(CLASS_KEYS[c])) for c in (1, 2, 3, 255))
            + _swatch(display.MASK_COLOURS["pre"], t("compare.legend.before"))
            + _swatch(display.MASK_COLOURS["post"], t("compare.legend.after")) + "</div>")


def current_result() -> Optional[analysis.AnalysisResult]:
    """This session's analysis (its latest, or the one it opened from the history), else None.
    Never another session's: a fresh session starts with none."""
    return history.current()


def done_mtime(result: analysis.AnalysisResult) -> float:
    return (result.folder / analysis.DONE_FILE).stat().st_mtime


def default_threshold(result: analysis.AnalysisResult) -> float:
    return analysis.default_threshold(result)


def warnings(result: analysis.AnalysisResult) -> None:
    """What the analysis warned about (e.g. dates misaligned by more than usual)."""
    for text in (result.summary or {}).get("warnings") or []:
        st.warning(text, icon=":material/warning:")


def header(result: analysis.AnalysisResult) -> None:
    req = result.request
    pre, post = req.get("pre", ["?", "?"]), req.get("post", ["?", "?"])
    dates = {}
    for date in ("pre", "post"):
        prov = (result.provenance or {}).get(date) or {}
        ds = prov.get("dates") or []
        dates[date] = ", ".join(ds) if ds else "?"
    area = history.describe_area(req, history.label_of(result.folder))
    st.caption(f"**{ui.escape_markdown(area)}** · "
               + t("compare.header", source=state.source_label(str(result.source.get("name"))), pre_start=pre[0],
                   pre_end=pre[1], pre_scene=dates["pre"], post_start=post[0], post_end=post[1],
                   post_scene=dates["post"], model=ui.escape_markdown(str(result.model.get("name"))),
                   finished=result.finished[:16].replace("T", " ")))


@st.cache_resource(max_entries=4, show_spinner=False)
def display_grid(folder: str, mtime: float) -> display.DisplayGrid:  # noqa: ARG001 - cache key
    """The lon/lat display grid of a result (nearest source pixel of each map pixel), found once:
    every mask and change overlay of the result is then one lookup (no reprojection)."""
    import rasterio

    result = analysis.load_result(folder)
    transform, crs = analysis.grid_of(result)
    with rasterio.open(result.probability_tif("post")) as ds:
        shape = (ds.height, ds.width)
    return display.DisplayGrid(shape, transform, crs)


@st.cache_data(max_entries=8, show_spinner=False)
def true_colour_overlays(folder: str, mtime: float) -> dict[str, dict[str, Any]]:
    """The true-colour images of a result as compact data URLs (the same at every threshold)."""
    result = analysis.load_result(folder)
    out = {}
    for date in ("pre", "post"):
        url = maps.compact_image_url(str(result.folder), (result.display or {}).get(f"{date}_rgb"), mtime)
        if url:
            out[f"{date}_rgb"] = {"url": url, "bounds": result.display["bounds"]}
    return out


@st.cache_data(max_entries=12, show_spinner=False)
def compare_view(folder: str, mtime: float, threshold: float) -> dict[str, Any]:
    """Everything the page shows at one threshold, from the saved probabilities (no model).

    Kept per (result, threshold): going back to a threshold shows it at once. The true colour
    and the display grid are the result's own, made once for every threshold."""
    result = analysis.load_result(folder)
    pair = analysis.rethreshold(result, threshold)
    grid = display_grid(folder, mtime)
    overlays: dict[str, dict[str, Any]] = dict(true_colour_overlays(folder, mtime))
    for date in ("pre", "post"):
        mask = pair.pre_mask if date == "pre" else pair.post_mask
        png, bounds = display.mask_overlay(mask, None, None, date, grid=grid)
        overlays[f"{date}_mask"] = {"url": display.data_url(png), "bounds": bounds}
    png, bounds = display.change_overlay(pair.change, None, None, grid=grid)
    overlays["change"] = {"url": display.data_url(png), "bounds": bounds}
    return {
        "threshold": threshold,
        "summary": pair.change_summary.to_dict(),
        "per_date": {"pre": pair.summary.get("pre", {}), "post": pair.summary.get("post", {})},
        "features": pair.new_features,
        "table": analysis.feature_table(pair.new_features),
        "slope_classes": analysis.slope_class_areas(pair.new_features),
        "overlays": overlays,
        "bounds": overlays["change"]["bounds"],
        "aoi": result.request.get("aoi"),
    }


#: The threshold slider's range.
SLIDER_MIN, SLIDER_MAX = 0.05, 0.95


def view_for(result: analysis.AnalysisResult, threshold: float, body) -> dict[str, Any]:
    """The view at ``threshold``; when it is not the one on screen, ``body`` (an ``st.empty``
    holding the page's figures) shows a spinner instead of the old figures while it is made."""
    ss = st.session_state
    shown = (str(result.folder), float(threshold))
    if ss.get(state.CMP_SHOWN) == shown:
        return compare_view(str(result.folder), done_mtime(result), float(threshold))
    with body.container():
        with st.spinner(t("compare.recomputing")):
            view = compare_view(str(result.folder), done_mtime(result), float(threshold))
    ss[state.CMP_SHOWN] = shown
    return view


def prefetch_neighbours(result: analysis.AnalysisResult, threshold: float) -> None:
    """One slider step either side, made in the background while the page is read, so that the
    next step is instant. Called once the page has made everything at ``threshold`` (the review
    section included): what the page makes itself would otherwise stop the prefetch."""
    analysis.prefetch_rethreshold(result, [round(threshold + d, 2) for d in (0.01, -0.01)
                                           if SLIDER_MIN <= round(threshold + d, 2) <= SLIDER_MAX])


def statistics(view: dict[str, Any]) -> None:
    s = view["summary"]
    with st.container(horizontal=True, gap="medium"):
        st.metric(t("compare.metric.new_count"), f"{int(s['new_count'])}", width="content")
        st.metric(t("compare.metric.new_ha"), f"{s['new_ha']:,.2f}", width="content")
        st.metric(t("compare.metric.persisting_ha"), f"{s['persisting_ha']:,.2f}", width="content")
        st.metric(t("compare.metric.vanished_ha"), f"{s['vanished_ha']:,.2f}", width="content")
        st.metric(t("compare.metric.not_assessable_ha"), f"{s['not_assessable_ha']:,.2f}", width="content",
                  help=t("compare.metric.not_assessable_help"))


def _overlay(view: dict, key: str, opacity: float, show: bool = True) -> Optional[dict]:
    ov = view["overlays"].get(key)
    if not ov:
        return None
    return {"name": t(f"compare.layer.{key}"), "url": ov["url"], "bounds": ov["bounds"], "opacity": opacity,
            "show": show}


def side_overlays(view: dict, date: str, opacity: float) -> list[dict]:
    """Before: true colour and its landslides. After: true colour and the change (new,
    persisting, vanished, not assessable); its own landslide mask is a layer to switch on."""
    items = [_overlay(view, f"{date}_rgb", 1.0)]
    if date == "pre":
        items.append(_overlay(view, "pre_mask", opacity))
    else:
        items += [_overlay(view, "post_mask", opacity, show=False), _overlay(view, "change", opacity)]
    return [i for i in items if i]


def all_overlays(view: dict, opacity: float) -> list[dict]:
    items = [_overlay(view, "pre_rgb", 1.0, show=False), _overlay(view, "post_rgb", 1.0),
             _overlay(view, "pre_mask", opacity, show=False), _overlay(view, "post_mask", opacity, show=False),
             _overlay(view, "change", opacity)]
    return [i for i in items if i]


def locate_geometry(view: dict, landslide_id: Optional[int]) -> Optional[dict]:
    if landslide_id is None:
        return None
    for f in view["features"]:
        if f["properties"].get("id") == landslide_id:
            return f["geometry"]
    return None


def show_map(overlays: list[dict], view: dict, basemaps: bool, highlight: Optional[dict], key: str,
             height: int) -> None:
    from streamlit_folium import st_folium

    m = maps.overlays_map(overlays, view["bounds"], basemaps=basemaps, aoi=view.get("aoi"),
                          highlight=maps.simplified_geometry(highlight))
    st_folium(m, key=key, height=height, use_container_width=True, returned_objects=[])


def show_dual_map(view: dict, opacity: float, basemaps: bool, highlight: Optional[dict], key: str,
                  height: int) -> None:
    """Before (left) and after (right), panning and zooming together."""
    from streamlit_folium import st_folium

    m = maps.dual_overlays_map(side_overlays(view, "pre", opacity), side_overlays(view, "post", opacity),
                               view["bounds"], basemaps=basemaps, aoi=view.get("aoi"),
                               highlight=maps.simplified_geometry(highlight))
    st_folium(m, key=key, height=height, use_container_width=True, returned_objects=[])


@st.fragment
def maps_panel(view: dict) -> None:
    """The map controls and the maps. A fragment: changing the opacity or the view reruns this
    panel alone, not the statistics, table and charts around it."""
    ss = st.session_state
    if ss.get(state.CMP_OPACITY) is None:
        ss[state.CMP_OPACITY] = 60
    c_o, c_v = st.columns([2, 2])
    c_o.slider(t("compare.opacity"), min_value=0, max_value=100, step=5, key=state.CMP_OPACITY)
    view_mode = c_v.radio(t("compare.view_label"), ["side", "layers"], horizontal=True, key="w_cmp_view",
                          format_func=lambda v: t(f"compare.view.{v}"))
    locate = locate_geometry(view, ss.get(state.LOCATE_ID))
    opacity = ss[state.CMP_OPACITY] / 100.0
    basemaps = bool(ss.get(state.BASEMAPS))
    if view_mode != "layers":
        left, right = st.columns(2, gap="small")
        left.markdown(t("compare.left"))
        right.markdown(t("compare.right"))
        show_dual_map(view, opacity, basemaps, locate, "cmp_dual_map", height=460)
    else:
        show_map(all_overlays(view, opacity), view, basemaps, locate, "cmp_map", height=560)
    st.html(legend())


def landslide_table(view: dict) -> None:
    import pandas as pd

    ss = st.session_state
    st.subheader(t("compare.table.title"))
    rows = view["table"]
    if not rows:
        st.info(t("compare.table.none"))
        ss[state.LOCATE_ID] = None
        return
    if lang() != "en":  # the evidence in words, in the session's language
        rows = [{**r, "why": why_text(r)} if "why" in r else r for r in rows]
    df = pd.DataFrame(rows).rename(columns={c: t(f"compare.col.{c}") for c in TABLE_COLUMNS})
    event = st.dataframe(df, hide_index=True, on_select="rerun", selection_mode="single-row",
                         key="cmp_table", height=min(38 + 35 * len(df), 320))
    ids = [int(r["id"]) for r in rows]
    selected_rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    if selected_rows:
        chosen = ids[selected_rows[0]]
        if ss.get(state.LOCATE_ID) != chosen:
            ss[state.LOCATE_ID] = chosen
            st.rerun()
    options = [None] + ids
    if ss.get(state.LOCATE_ID) not in options:
        ss[state.LOCATE_ID] = None
    st.selectbox(t("compare.locate"), options, key=state.LOCATE_ID, placeholder=t("compare.locate_none"),
                 format_func=lambda i: t("compare.locate_none") if i is None else t("compare.locate_one", id=i))


def slope_chart_rows(view: dict) -> list[dict]:
    """The slope classes with readable labels ("15-25°") and a count label for each bar."""
    rows = []
    for r in view["slope_classes"]:
        n = int(r["count"])
        slope_class = str(r["slope_class"]).replace(" deg", "°")
        rows.append({**r, "slope_class": t("report.chart.unknown") if slope_class == "unknown" else slope_class,
                     "label": t_count("compare.chart.bar_label", n) if n else ""})
    return rows


def charts(view: dict) -> None:
    import plotly.express as px

    rows = view["table"]
    if not rows:
        return
    c1, c2 = st.columns(2)
    with c1:
        slope_rows = slope_chart_rows(view)
        top = max((r["area_ha"] for r in slope_rows), default=0.0)
        fig = px.bar(slope_rows, x="slope_class", y="area_ha", text="label",
                     labels={"slope_class": t("report.chart.x"), "area_ha": t("compare.chart.new_area"),
                             "count": t("compare.chart.count")},
                     title=t("report.chart.title"), color_discrete_sequence=["#b5442c"],
                     hover_data={"count": True, "label": False})
        fig.update_traces(textposition="outside", cliponaxis=False, textfont_size=11)
        fig.update_layout(height=330, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                          yaxis_range=[0, top * 1.25 if top > 0 else 1], xaxis_tickangle=0)
        st.plotly_chart(fig, key="chart_slope")
    with c2:
        fig = px.histogram(rows, x="area_ha", nbins=min(30, max(5, len(rows))),
                           labels={"area_ha": t("compare.chart.size_x")}, title=t("compare.chart.sizes"),
                           color_discrete_sequence=["#2b7bba"])
        fig.update_layout(height=330, margin={"l": 10, "r": 10, "t": 50, "b": 10}, yaxis_title=t("compare.chart.count"))
        st.plotly_chart(fig, key="chart_sizes")


def downloads(result: analysis.AnalysisResult, threshold: float) -> None:
    """The downloads (dashboard.downloads): the report, the ZIP of everything, each file."""
    from . import downloads as _downloads

    _downloads.render(result, threshold)


def _scenes_line(prov: dict[str, Any]) -> str:
    dates = ", ".join(prov.get("dates") or []) or "?"
    ids = [s.get("scene_id") or s.get("id") for s in (prov.get("scenes") or []) if isinstance(s, dict)]
    ids = [i for i in ids if i] or list(prov.get("scene_ids") or [])
    cloud = prov.get("aoi_cloud_pct")
    bits = [t("compare.prov.dates" if "," in dates else "compare.prov.date", dates=dates)]
    if prov.get("composite") == "median":
        bits.append(t("monitor.composite.median").lower())
    if cloud is not None:
        bits.append(t("compare.prov.cloud", pct=f"{float(cloud):.1f}"))
    if ids:
        bits.append(t("compare.prov.scene", ids=", ".join(f"`{i}`" for i in ids[:6]) + (" ..." if len(ids) > 6 else "")))
    return " · ".join(bits)


def provenance_rows(result: analysis.AnalysisResult) -> list[tuple[str, str]]:
    """The provenance in words: (what, value) lines for the page."""
    from landslide_core.predictor import DEFAULT_OVERLAP_PX

    req, prov = result.request or {}, result.provenance or {}
    model, opts = analysis.model_card_record(result), result.options or {}
    pre, post = req.get("pre", ["?", "?"]), req.get("post", ["?", "?"])
    composite = req.get("composite") or "least_cloudy"
    composite = t(f"monitor.composite.{composite}").lower() if composite in ("least_cloudy", "median") else composite
    rows = [(t("compare.prov.area"), history.describe_area(req, history.label_of(result.folder))),
            (t("compare.prov.before"), t("compare.prov.window", start=pre[0], end=pre[1])
             + _scenes_line(prov.get("pre") or {})),
            (t("compare.prov.after"), t("compare.prov.window", start=post[0], end=post[1])
             + _scenes_line(prov.get("post") or {})),
            (t("compare.prov.imagery"), t("compare.prov.imagery_value", source=result.source.get("name"),
                                          version=result.source.get("version"),
                                          cloud=f"{float(req.get('cloud_limit_pct', 0)):g}", composite=composite)),
            (t("compare.prov.model"), t("compare.prov.model_value", name=model.get("name"),
                                        architecture=model.get("architecture"), bands=model.get("band_set"),
                                        trained_on=model.get("trained_on") or t("report.not_recorded"))),
            (t("compare.prov.detection"), t("compare.prov.detection_value",
                                            threshold=f"{analysis.default_threshold(result):.2f}",
                                            overlap=opts.get("overlap_px", DEFAULT_OVERLAP_PX),
                                            min_area=f"{analysis.default_min_area_ha(result):g}")),
            (t("compare.prov.run"), t("compare.prov.run_value", finished=result.finished[:19].replace("T", " "),
                                      seconds=f"{float(result.elapsed_s):.1f}", key=result.key))]
    summary = result.summary or {}
    rows[-1:-1] = [r for r in ((t("compare.prov.coregistration"), coregistration_text(summary.get("coregistration"))),
                               (t("compare.prov.objects"), objects_text(summary))) if r[1]]
    return rows


def coregistration_text(shift: Optional[dict]) -> str:
    """The shift between the dates in words."""
    if not shift:
        return t("compare.coreg.none")
    moved = t("compare.coreg.moved", rows=f"{float(shift.get('rows_px', 0)):+.2f}",
              cols=f"{float(shift.get('cols_px', 0)):+.2f}")
    metres = f" ({float(shift['magnitude_m']):.1f} m)" if shift.get("magnitude_m") is not None else ""
    if shift.get("applied"):
        return t("compare.coreg.applied", moved=moved, metres=metres)
    if not shift.get("reliable", True):
        return t("compare.coreg.not_applied", notes="; ".join(shift.get("notes") or [t("compare.coreg.unreliable")]))
    return t("compare.coreg.not_needed", moved=moved, metres=metres)


def objects_text(summary: dict) -> str:
    """Hysteresis, the object rules and what they turned down, in words."""
    from landslide_core.objects import REJECT_REASONS

    settings = summary.get("settings") or {}
    rules = settings.get("rules") or {}
    if not settings:
        return ""
    on = [f"{k} {v:g}" for k, v in rules.items() if k in REJECT_REASONS and v is not None]
    bits = [t("compare.objects.grow", ratio=f"{float(settings.get('grow_ratio', 0.6)):g}"),
            t("compare.objects.rules", rules=", ".join(on) if on else t("compare.objects.all_off"))]
    for date in ("pre", "post"):
        counts = (summary.get(date) or {}).get("rejected_by_rule") or {}
        turned = [f"{n} {t(f'compare.reason.{k}') if k in REJECT_REASONS else k}" for k, n in counts.items() if n]
        if turned:
            bits.append(t(f"compare.objects.turned_{date}", turned=", ".join(turned)))
    change = settings.get("change") or {}
    if change:
        bits.append(t("compare.objects.change", ndvi=change.get("min_ndvi_drop"),
                      brightness=change.get("min_brightness_rise")))
    return "; ".join(bits)


#: Columns of the new-landslides table (their headings: compare.col.<name>).
TABLE_COLUMNS = ("id", "area_ha", "perimeter_m", "slope_deg_mean", "slope_deg_max", "probability_mean", "centroid_lon",
                 "centroid_lat", "pre_probability_mean", "ndvi_drop", "brightness_rise", "height_above_valley_m",
                 "relative_height", "compactness", "rectangularity", "width_m", "elongation", "downslope_alignment",
                 "why")


def why_text(p: dict[str, Any]) -> str:
    """Why a landslide counts as new, in the session's words (the core writes it in English)."""
    import math

    parts = []
    if p.get("pre_probability_mean") is not None:
        parts.append(t("compare.why.pre", p=f"{float(p['pre_probability_mean']):.2f}"))
    if p.get("ndvi_drop") is not None:
        parts.append(t("compare.why.ndvi", ndvi=f"{-float(p['ndvi_drop']):+.2f}"))
    if p.get("brightness_rise") is not None:
        parts.append(t("compare.why.brighter", pct=f"{100 * (math.exp(float(p['brightness_rise'])) - 1):+.0f}"))
    if p.get("slope_deg_mean") is not None:
        parts.append(t("compare.why.slope", deg=f"{float(p['slope_deg_mean']):.0f}"))
    if p.get("height_above_valley_m") is not None:
        parts.append(t("compare.why.height", m=f"{float(p['height_above_valley_m']):.0f}"))
    return "; ".join(parts)


def provenance(result: analysis.AnalysisResult) -> None:
    with st.expander(t("compare.prov.title")):
        st.markdown("  \n".join(f"**{what}**: {_md(value)}" for what, value in provenance_rows(result)))
        if st.toggle(t("compare.prov.raw"), key="cmp_raw_provenance"):
            st.json({"request": result.request, "source": result.source, "scenes": result.provenance,
                     "options": result.options, "model": analysis.model_card_record(result),
                     "folder": str(result.folder)}, expanded=False)


def _md(text: str) -> str:
    """Text shown as Markdown without its own characters turning into formatting (code spans kept)."""
    parts = str(text).split("`")
    return "`".join(p if i % 2 else ui.escape_markdown(p) for i, p in enumerate(parts))

