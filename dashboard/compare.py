"""The Compare page's parts: cached re-thresholded view, maps, statistics, table, downloads."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import streamlit as st

from landslide_core import analysis, display

from . import history, maps, state, ui

def _swatch(rgba, label: str) -> str:
    r, g, b, a = rgba
    return (f'<span style="display:inline-block;width:0.9em;height:0.9em;margin:0 0.3em 0 0.9em;'
            f'vertical-align:middle;border:1px solid #555;background:rgba({r},{g},{b},{a / 255:.2f})"></span>{label}')


LEGEND = ('<div style="font-size:0.9rem">'
          + "".join(_swatch(display.CHANGE_CLASSES[c][1], display.CHANGE_CLASSES[c][0]) for c in (1, 2, 3, 255))
          + _swatch(display.MASK_COLOURS["pre"], "landslide before")
          + _swatch(display.MASK_COLOURS["post"], "landslide after") + "</div>")


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
    st.caption(f"**{ui.escape_markdown(area)}** · source **{result.source.get('name')}** · before {pre[0]} to {pre[1]} (scene {dates['pre']}) · "
               f"after {post[0]} to {post[1]} (scene {dates['post']}) · model **{result.model.get('name')}** · "
               f"finished {result.finished[:16].replace('T', ' ')} UTC")


@st.cache_data(max_entries=12, show_spinner="Recomputing masks and change...")
def compare_view(folder: str, mtime: float, threshold: float) -> dict[str, Any]:  # noqa: ARG001 - cache key
    """Everything the page shows at one threshold, from the saved probabilities (no model)."""
    result = analysis.load_result(folder)
    pair = analysis.rethreshold(result, threshold)
    transform, crs = analysis.grid_of(result)
    overlays: dict[str, dict[str, Any]] = {}
    for date in ("pre", "post"):
        url = display.read_png_url(result.folder, (result.display or {}).get(f"{date}_rgb"))
        if url:
            overlays[f"{date}_rgb"] = {"url": url, "bounds": result.display["bounds"]}
        mask = pair.pre_mask if date == "pre" else pair.post_mask
        png, bounds = display.mask_overlay(mask, transform, crs, date)
        overlays[f"{date}_mask"] = {"url": display.data_url(png), "bounds": bounds}
    png, bounds = display.change_overlay(pair.change, transform, crs)
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


def statistics(view: dict[str, Any]) -> None:
    s = view["summary"]
    with st.container(horizontal=True, gap="medium"):
        st.metric("New landslides", f"{int(s['new_count'])}", width="content")
        st.metric("New (ha)", f"{s['new_ha']:,.2f}", width="content")
        st.metric("Persisting (ha)", f"{s['persisting_ha']:,.2f}", width="content")
        st.metric("Vanished (ha)", f"{s['vanished_ha']:,.2f}", width="content")
        st.metric("Not assessable (ha)", f"{s['not_assessable_ha']:,.2f}", width="content",
                  help="Cloud, shadow or no data on either date.")


_NAMES = {"pre_rgb": "Before: true colour", "post_rgb": "After: true colour",
          "pre_mask": "Before: landslides", "post_mask": "After: landslides",
          "change": "Change (new, persisting, vanished, not assessable)"}


def _overlay(view: dict, key: str, opacity: float, show: bool = True) -> Optional[dict]:
    ov = view["overlays"].get(key)
    if not ov:
        return None
    return {"name": _NAMES[key], "url": ov["url"], "bounds": ov["bounds"], "opacity": opacity, "show": show}


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

    m = maps.overlays_map(overlays, view["bounds"], basemaps=basemaps, aoi=view.get("aoi"), highlight=highlight)
    st_folium(m, key=key, height=height, use_container_width=True, returned_objects=[])


def show_dual_map(view: dict, opacity: float, basemaps: bool, highlight: Optional[dict], key: str,
                  height: int) -> None:
    """Before (left) and after (right), panning and zooming together."""
    from streamlit_folium import st_folium

    m = maps.dual_overlays_map(side_overlays(view, "pre", opacity), side_overlays(view, "post", opacity),
                               view["bounds"], basemaps=basemaps, aoi=view.get("aoi"), highlight=highlight)
    st_folium(m, key=key, height=height, use_container_width=True, returned_objects=[])


def landslide_table(view: dict) -> None:
    import pandas as pd

    ss = st.session_state
    st.subheader("New landslides")
    rows = view["table"]
    if not rows:
        st.info("No new landslides at this threshold. Lower the threshold to see weaker detections.")
        ss[state.LOCATE_ID] = None
        return
    df = pd.DataFrame(rows).rename(columns={
        "area_ha": "area (ha)", "perimeter_m": "perimeter (m)", "slope_deg_mean": "mean slope (deg)",
        "slope_deg_max": "max slope (deg)", "probability_mean": "mean probability",
        "centroid_lon": "lon", "centroid_lat": "lat", "pre_probability_mean": "before: probability",
        "ndvi_drop": "NDVI drop", "brightness_rise": "brightness rise (ln)",
        "height_above_valley_m": "above valley floor (m)", "why": "why it is new"})
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
    st.selectbox("Locate a landslide on the map (or select a row above)", options, key=state.LOCATE_ID,
                 format_func=lambda i: "none" if i is None else f"landslide {i}")


def slope_chart_rows(view: dict) -> list[dict]:
    """The slope classes with readable labels ("15-25°") and a count label for each bar."""
    rows = []
    for r in view["slope_classes"]:
        n = int(r["count"])
        rows.append({**r, "slope_class": str(r["slope_class"]).replace(" deg", "°"),
                     "label": f"{n} landslide{'s' if n != 1 else ''}" if n else ""})
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
                     labels={"slope_class": "Mean slope of the landslide", "area_ha": "New landslide area (ha)"},
                     title="New landslide area by slope", color_discrete_sequence=["#b5442c"],
                     hover_data={"count": True, "label": False})
        fig.update_traces(textposition="outside", cliponaxis=False, textfont_size=11)
        fig.update_layout(height=330, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                          yaxis_range=[0, top * 1.25 if top > 0 else 1], xaxis_tickangle=0)
        st.plotly_chart(fig, key="chart_slope")
    with c2:
        fig = px.histogram(rows, x="area_ha", nbins=min(30, max(5, len(rows))),
                           labels={"area_ha": "Landslide area (ha)"}, title="Sizes of the new landslides",
                           color_discrete_sequence=["#2b7bba"])
        fig.update_layout(height=330, margin={"l": 10, "r": 10, "t": 50, "b": 10}, yaxis_title="count")
        st.plotly_chart(fig, key="chart_sizes")


_MIME = {".geojson": "application/geo+json", ".csv": "text/csv", ".tif": "image/tiff"}


def downloads(result: analysis.AnalysisResult, threshold: float) -> None:
    """One button per file; each file is written on click (model card and provenance inside)."""
    st.subheader("Downloads")
    st.caption(f"At threshold {threshold:.2f}. Every file carries the model card and the provenance "
               "(scene ids, dates, cloud %).")
    with st.container(horizontal=True, gap="small"):
        for name, label in analysis.EXPORT_FILES.items():
            def data(n: str = name) -> bytes:
                return analysis.export_file(result, n, threshold).read_bytes()

            suffix = Path(name).suffix
            st.download_button(label, data=data, file_name=f"landslides_{result.key[:8]}_t{threshold:.2f}_{name}",
                               mime=_MIME.get(suffix, "application/octet-stream"), key=f"dl_{name}",
                               icon=":material/download:", on_click="ignore", width="content")


def _scenes_line(prov: dict[str, Any]) -> str:
    dates = ", ".join(prov.get("dates") or []) or "?"
    ids = [s.get("scene_id") or s.get("id") for s in (prov.get("scenes") or []) if isinstance(s, dict)]
    ids = [i for i in ids if i] or list(prov.get("scene_ids") or [])
    cloud = prov.get("aoi_cloud_pct")
    bits = [f"{'dates' if ',' in dates else 'date'} {dates}"]
    if prov.get("composite") == "median":
        bits.append("cloud-masked median")
    if cloud is not None:
        bits.append(f"{float(cloud):.1f} % of the area under cloud or without data")
    if ids:
        bits.append("scene " + ", ".join(f"`{i}`" for i in ids[:6]) + (" ..." if len(ids) > 6 else ""))
    return " · ".join(bits)


def provenance_rows(result: analysis.AnalysisResult) -> list[tuple[str, str]]:
    """The provenance in words: (what, value) lines for the page."""
    from landslide_core.predictor import DEFAULT_OVERLAP_PX

    req, prov = result.request or {}, result.provenance or {}
    model, opts = analysis.model_card_record(result), result.options or {}
    pre, post = req.get("pre", ["?", "?"]), req.get("post", ["?", "?"])
    composite = {"least_cloudy": "least cloudy date", "median": "cloud-masked median"}.get(
        req.get("composite"), req.get("composite") or "least cloudy date")
    rows = [("Area", history.describe_area(req, history.label_of(result.folder))),
            ("Before", f"window {pre[0]} to {pre[1]}: " + _scenes_line(prov.get("pre") or {})),
            ("After", f"window {post[0]} to {post[1]}: " + _scenes_line(prov.get("post") or {})),
            ("Imagery", f"{result.source.get('name')} (version {result.source.get('version')}), "
                        f"cloud limit {float(req.get('cloud_limit_pct', 0)):g} %, {composite}"),
            ("Model", f"{model.get('name')} ({model.get('architecture')}, bands {model.get('band_set')}), "
                      f"trained on: {model.get('trained_on') or 'not recorded'}"),
            ("Detection", f"threshold {analysis.default_threshold(result):.2f} at run time, "
                          f"window overlap {opts.get('overlap_px', DEFAULT_OVERLAP_PX)} px, "
                          f"smallest landslide {analysis.default_min_area_ha(result):g} ha"),
            ("Run", f"finished {result.finished[:19].replace('T', ' ')} UTC in {float(result.elapsed_s):.1f} s; "
                    f"analysis `{result.key}`")]
    summary = result.summary or {}
    rows[-1:-1] = [r for r in (("Co-registration", coregistration_text(summary.get("coregistration"))),
                               ("Objects and change", objects_text(summary))) if r[1]]
    return rows


def coregistration_text(shift: Optional[dict]) -> str:
    """The shift between the dates in words."""
    if not shift:
        return "not estimated (switched off, or a result from before co-registration)"
    moved = f"{float(shift.get('rows_px', 0)):+.2f} px down, {float(shift.get('cols_px', 0)):+.2f} px right"
    metres = f" ({float(shift['magnitude_m']):.1f} m)" if shift.get("magnitude_m") is not None else ""
    if shift.get("applied"):
        return f"the 'before' image was shifted {moved}{metres} onto the 'after' image"
    if not shift.get("reliable", True):
        return "not applied: " + "; ".join(shift.get("notes") or ["the estimate was not reliable"])
    return f"none needed (estimated {moved}{metres})"


def objects_text(summary: dict) -> str:
    """Hysteresis, the object rules and what they turned down, in words."""
    from landslide_core.objects import REJECT_REASONS

    settings = summary.get("settings") or {}
    rules = settings.get("rules") or {}
    if not settings:
        return ""
    on = [f"{k} {v:g}" for k, v in rules.items() if k in REJECT_REASONS and v is not None]
    bits = [f"grow ratio {float(settings.get('grow_ratio', 0.6)):g}",
            "rules: " + (", ".join(on) if on else "all off")]
    for date in ("pre", "post"):
        counts = (summary.get(date) or {}).get("rejected_by_rule") or {}
        turned = [f"{n} {REJECT_REASONS.get(k, k)}" for k, n in counts.items() if n]
        if turned:
            bits.append(f"{'before' if date == 'pre' else 'after'}: turned down " + ", ".join(turned))
    change = settings.get("change") or {}
    if change:
        bits.append(f"new only with an NDVI drop >= {change.get('min_ndvi_drop')} and a brightness rise >= "
                    f"{change.get('min_brightness_rise')} against the surroundings")
    return "; ".join(bits)


def provenance(result: analysis.AnalysisResult) -> None:
    with st.expander("Provenance and model card"):
        st.markdown("  \n".join(f"**{what}**: {_md(value)}" for what, value in provenance_rows(result)))
        if st.toggle("Show the full record (JSON)", key="cmp_raw_provenance"):
            st.json({"request": result.request, "source": result.source, "scenes": result.provenance,
                     "options": result.options, "model": analysis.model_card_record(result),
                     "folder": str(result.folder)}, expanded=False)


def _md(text: str) -> str:
    """Text shown as Markdown without its own characters turning into formatting (code spans kept)."""
    parts = str(text).split("`")
    return "`".join(p if i % 2 else ui.escape_markdown(p) for i, p in enumerate(parts))

