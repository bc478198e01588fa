"""The review section of the Compare page: confirm, reject, draw, undo, then make chips.

One table of every detection at the page's threshold (new, persisting, before only) and the
drawn landslides, each with its review; select a row (or click the object on the map), then
one button: Confirm, Reject or Undo review. Missed landslides are drawn on the after map and
added with "Add the drawn landslide". Reviews are saved at once with the analysis
(:class:`landslide_core.review.ReviewStore`), so they survive reloads and are shared with
other sessions. "Make chips" cuts training patches around them (in the background, with
progress and Cancel); the Training page then fine-tunes a model on them.

The section is a fragment: a review reruns only this section, not the page's maps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import streamlit as st

from landslide_core.errors import UserError

from . import jobs, maps, offline_assets, state
from .errors import show_error
from .i18n import t
from .job_panel import job_panel
from .finetune_panel import CHIPS_PENDING as FINETUNE_CHIPS_PENDING

# --- session keys ---
REVIEWER = "rv_who"            # widget: the reviewer's name
WHY = "rv_why"                 # widget: a note saved with the next review
SELECTED = "rv_selected"       # object id of the selected row
MINE = "rv_mine"               # {result folder: [review ids made in this session]}
MAP_GENERATION = "rv_map_gen"  # bumped to draw the map anew (drops a drawing)
PENDING = "rv_pending_drawing"  # the last drawing not yet added
NOTICE = "rv_notice"           # (kind, text) shown once after a rerun
SELECT_NEXT = "rv_select_next"  # the object to select on the next run (set after the widgets)
CLEAR_WHY = "rv_clear_why"     # empty the note on the next run
LAST_PICK = "rv_last_pick"     # the table row last taken as the selection
CHIPS_DIR = "rv_chips_dir"     # widget: the chips folder
CHIPS_JOB = "rv_chips_job"     # jobs.Job making chips
#: The chips folder last written in this session (the Models page offers it).
LAST_CHIPS = "rv_last_chips"
OPEN = "rv_open"               # widget: the review tools shown (they follow every threshold change)

KIND_COLOURS = {"new": "#e31a1c", "persisting": "#ff7f00", "before only": "#b8a000"}
VERDICT_COLOURS = {"confirmed": "#1a9850", "rejected": "#7b3294", "drawn": "#2166ac"}


def _verdict_label(verdict: str) -> str:
    return t(f"review.verdict.{verdict}")


def _kind(kind: str) -> str:
    return t("review.kind." + kind.replace(" ", "_")) if kind else ""


def _value(verdict: str) -> str:
    return t(f"review.value.{verdict}") if verdict else ""


def default_chips_dir() -> str:
    from landslide_core.watch.config import default_data_dir

    return str(default_data_dir() / "review-chips" / "my-region")


@st.cache_data(max_entries=8, show_spinner=False)
def _candidates(folder: str, mtime: float, threshold: float) -> list[dict[str, Any]]:  # noqa: ARG001 - cache key
    from landslide_core.analysis import load_result
    from landslide_core.review.candidates import review_candidates

    return review_candidates(load_result(folder), threshold)


def detected_layers_of(candidates: list[dict[str, Any]]) -> dict[str, dict]:
    """The detections as one GeoJSON FeatureCollection per kind, coordinates rounded for the map."""
    layers = {}
    for kind in KIND_COLOURS:
        own = [f for f in candidates if f["properties"]["kind"] == kind]
        layers[kind] = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": g, "properties": {"object": f["properties"]["object_id"]}}
            for f, g in zip(own, maps.rounded_geometries([f["geometry"] for f in own]))]}
    return layers


@st.cache_data(max_entries=8, show_spinner=False)
def _detected_layers(folder: str, mtime: float, threshold: float) -> dict[str, dict]:
    """:func:`detected_layers_of` of :func:`_candidates`, made once per (result, threshold)."""
    return detected_layers_of(_candidates(folder, mtime, threshold))


def _legend() -> str:
    def swatch(colour: str, label: str, dashed: bool = False) -> str:
        border = "dashed" if dashed else "solid"
        return (f'<span style="display:inline-block;width:0.9em;height:0.9em;margin:0 0.3em 0 0.9em;'
                f'vertical-align:middle;border:2px {border} {colour}"></span>{label}')

    parts = [swatch(c, t("review.detected", kind=_kind(k))) for k, c in KIND_COLOURS.items()]
    parts += [swatch(c, _verdict_label(v), v == "rejected") for v, c in VERDICT_COLOURS.items()]
    return '<div style="font-size:0.85rem">' + "".join(parts) + "</div>"


def review_map(result, candidates: list[dict], reviews: list, selected: Optional[str], basemaps: bool,
               detected_layers: dict[str, dict]):
    """The after image with the detections (by kind) and the reviews (by verdict), and tools
    to draw a missed landslide (polygon or rectangle). ``detected_layers``: the detections as
    :func:`detected_layers_of` makes them from ``candidates``."""
    import folium
    from folium import plugins

    from .compare import done_mtime, true_colour_overlays

    bounds = (result.display or {}).get("bounds")
    if not bounds:
        bounds = maps.geometry_bounds_latlon((result.request or {}).get("aoi"))
    center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    m = maps.new_map(center, zoom=14, basemaps=basemaps, context_bounds=bounds)
    # the after image as the Compare maps send it (compact, made once per result): the lossless
    # PNG made this map's script five times larger and its every run slower
    url = (true_colour_overlays(str(result.folder), done_mtime(result)).get("post_rgb") or {}).get("url")
    if url:
        folium.raster_layers.ImageOverlay(image=url, bounds=bounds, name=t("review.layer.after"), pixelated=True,
                                          interactive=False).add_to(m)
    aoi = (result.request or {}).get("aoi")
    if aoi:
        maps.add_aoi(m, aoi)
    for kind, colour in KIND_COLOURS.items():
        layer = detected_layers.get(kind)
        if layer and layer["features"]:
            folium.GeoJson(layer, name=t("review.layer.detected", kind=_kind(kind)),
                           style_function=lambda _f, c=colour: {"color": c, "weight": 2, "fill": True, "fillOpacity": 0.08},
                           tooltip=folium.GeoJsonTooltip(["object"], labels=False)).add_to(m)
    for verdict, colour in VERDICT_COLOURS.items():
        feats = [r for r in reviews if r.verdict == verdict]
        if feats:
            folium.GeoJson({"type": "FeatureCollection", "features": [
                {"type": "Feature", "geometry": maps.rounded_geometry(r.geometry),
                 "properties": {"review": t("review.by", verdict=_verdict_label(verdict), who=r.who)}}
                for r in feats]}, name=t("review.layer.reviewed", verdict=_verdict_label(verdict)),
                style_function=lambda _f, c=colour, v=verdict: {
                    "color": c, "weight": 3, "fill": v != "rejected", "fillOpacity": 0.25,
                    "dashArray": "6 4" if v == "rejected" else None},
                tooltip=folium.GeoJsonTooltip(["review"], labels=False)).add_to(m)
    chosen = next((f for f in candidates if f["properties"]["object_id"] == selected), None)
    if chosen is not None:
        folium.GeoJson({"type": "Feature", "geometry": maps.rounded_geometry(chosen["geometry"]), "properties": {}},
                       name=t("review.layer.selected"),
                       style_function=lambda _f: maps.HIGHLIGHT_STYLE).add_to(m)
    maps.fit(m, bounds)
    plugins.Draw(export=False, position="topleft", show_geometry_on_click=False,
                 draw_options={"polyline": False, "circle": False, "marker": False, "circlemarker": False,
                               "polygon": {"allowIntersection": False, "showArea": True},
                               "rectangle": {"showArea": True}},
                 edit_options={"edit": False}).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    offline_assets.localize(m)
    return m


def _rerun() -> None:
    """Rerun this section only (a fragment rerun); during a full run of the page, the page."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


def _who() -> str:
    return str(st.session_state.get(REVIEWER) or "").strip() or "anonymous"  # stored: not translated


def _remember(folder: str, review_id: str) -> None:
    ss = st.session_state
    mine = dict(ss.get(MINE) or {})
    mine[folder] = list(mine.get(folder, [])) + [review_id]
    ss[MINE] = mine


def _act(do, select_next: Optional[str] = None) -> None:
    """Run one review action, keep its message for after the rerun (never raise), and on
    success clear the note and move to ``select_next``."""
    ss = st.session_state
    try:
        ss[NOTICE] = ("success", do())
        ss[CLEAR_WHY] = True
        if select_next:
            ss[SELECT_NEXT] = select_next
    except UserError as exc:
        ss[NOTICE] = ("error", str(exc))


def _next_unreviewed(rows: list[dict], current: str) -> Optional[str]:
    ids = [r["object_id"] for r in rows]
    start = ids.index(current) + 1 if current in ids else 0
    for r in rows[start:] + rows[:start]:
        if not r["review"] and r["object_id"] != current:
            return r["object_id"]
    return None


def _table(rows: list[dict]) -> Optional[str]:
    """The review table; returns the object id of the row selected in it (if any)."""
    import pandas as pd

    from landslide_core.review.candidates import TABLE_COLUMNS

    shown = [{**{k: r.get(k) for k in TABLE_COLUMNS}, "kind": _kind(r.get("kind") or ""),
              "review": _value(r.get("review") or "")} for r in rows]
    df = pd.DataFrame(shown).rename(columns={
        "object_id": t("review.col.object"), "kind": t("review.col.kind"), "review": t("review.col.review"),
        "area_ha": t("review.col.area"), "slope_deg_mean": t("review.col.slope"),
        "probability_mean": t("review.col.probability"), "reviewed_by": t("review.col.by"), "why": t("review.col.why")})
    event = st.dataframe(df, hide_index=True, on_select="rerun", selection_mode="single-row", key="rv_table",
                         height=min(38 + 35 * len(df), 320))
    picked = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    return rows[picked[0]]["object_id"] if picked and picked[0] < len(rows) else None


def _object_at(candidates: list[dict], clicked: Any) -> Optional[str]:
    """The object under a map click ({"lat", "lng"}), if any."""
    from shapely.geometry import Point, shape

    if not isinstance(clicked, dict) or clicked.get("lat") is None:
        return None
    p = Point(float(clicked["lng"]), float(clicked["lat"]))
    for f in candidates:
        if shape(f["geometry"]).buffer(1e-5).contains(p):
            return f["properties"]["object_id"]
    return None


def section(result, threshold: float) -> None:
    """The whole review section (a fragment: its reruns leave the rest of the page alone).

    Its tools are shown once opened (a toggle, kept for the session): they follow every
    threshold change (the objects of both dates and their outlines, a third map), which makes
    each change about half a second slower on a 400 km2 result (``bench/interactive.py``)."""

    @st.fragment
    def body() -> None:
        st.subheader(t("review.subheader"))
        if not st.toggle(t("review.open"), key=OPEN, help=t("review.open_help")):
            st.caption(t("review.closed"))
            return
        _body(result, threshold)

    body()


def _body(result, threshold: float) -> None:
    from streamlit_folium import st_folium

    from landslide_core.analysis import DONE_FILE
    from landslide_core.review import ReviewStore
    from landslide_core.review.candidates import review_table

    ss = st.session_state
    folder = str(result.folder)
    if ss.pop(CLEAR_WHY, False):
        ss[WHY] = ""
    st.caption(t("review.caption"))
    c_who, c_why = st.columns([1, 2])
    c_who.text_input(t("review.who"), key=REVIEWER, placeholder=t("review.anonymous"))
    c_why.text_input(t("review.why"), key=WHY, max_chars=500, placeholder=t("review.why_placeholder"))
    try:
        mtime = (Path(folder) / DONE_FILE).stat().st_mtime
        candidates = _candidates(folder, mtime, float(threshold))
        store = ReviewStore.of(result)
        reviews = store.active()
    except UserError as exc:
        show_error(exc)
        return
    rows = review_table(candidates, reviews)
    notice = ss.pop(NOTICE, None)
    if notice:
        (st.success if notice[0] == "success" else st.error)(notice[1])
    if not rows:
        st.info(t("review.nothing"))
    picked = _table(rows) if rows else None
    ids = [r["object_id"] for r in rows]
    if picked is not None and picked != ss.get(LAST_PICK):
        ss[LAST_PICK] = picked
        ss[SELECTED] = picked
    elif ss.get(SELECT_NEXT):
        ss[SELECTED] = ss.pop(SELECT_NEXT)
    if ss.get(SELECTED) not in ids:
        ss[SELECTED] = ids[0] if ids else None
    row = next((r for r in rows if r["object_id"] == ss.get(SELECTED)), None)
    by_id = {f["properties"]["object_id"]: f for f in candidates}
    labels = {r["object_id"]: f"{r['object_id']} ({_kind(r['kind'])}{', ' + _value(r['review']) if r['review'] else ''})"
              for r in rows}
    mine = [i for i in (ss.get(MINE) or {}).get(folder, []) if any(r.review_id == i for r in reviews)]
    after = _next_unreviewed(rows, row["object_id"]) if row else None

    c_sel, c_ok, c_no, c_undo, c_last = st.columns([2, 1, 1, 1, 1], vertical_alignment="bottom")
    c_sel.selectbox(t("review.selected"), ids or [None], key=SELECTED,
                    format_func=lambda i: t("review.none") if i is None else labels.get(i, str(i)))
    detected = row is not None and row["object_id"] in by_id
    why = ss.get(WHY, "")
    for col, action, verdict, icon, kind in ((c_ok, "confirm", "confirmed", ":material/check:", "primary"),
                                             (c_no, "reject", "rejected", ":material/close:", "secondary")):
        if col.button(t(f"review.{action}"), key=f"rv_{action}", icon=icon, type=kind, disabled=not detected,
                      width="stretch", help=t(f"review.{action}_help")):
            def give(verdict: str = verdict) -> str:
                r = store.review(by_id[row["object_id"]], verdict, _who(), why, threshold)
                _remember(folder, r.review_id)
                return t(f"review.{verdict}_msg", object=row["object_id"])
            _act(give, after)
            _rerun()
    if c_undo.button(t("review.undo"), key="rv_undo", icon=":material/undo:",
                     disabled=row is None or not row.get("review_id"), width="stretch", help=t("review.undo_help")):
        _act(lambda: t("review.undone_msg", object=row["object_id"],
                       verdict=_value(store.undo(row["review_id"], _who()).verdict)))
        _rerun()
    if c_last.button(t("review.undo_last"), key="rv_undo_last", icon=":material/history:", disabled=not mine,
                     width="stretch", help=t("review.undo_last_help")):
        _act(lambda: t("review.undone_last_msg", verdict=_value(store.undo(mine[-1], _who()).verdict)))
        _rerun()
    counts = {v: sum(1 for r in reviews if r.verdict == v) for v in ("confirmed", "rejected", "drawn")}
    st.caption(t("review.counts", n=len(reviews), confirmed=counts["confirmed"], rejected=counts["rejected"],
                 drawn=counts["drawn"], open=sum(1 for r in rows if not r["review"])))

    m = review_map(result, candidates, reviews, ss.get(SELECTED), bool(ss.get(state.BASEMAPS)),
                   _detected_layers(folder, mtime, float(threshold)))
    out = st_folium(m, key=f"rv_map_{result.key[:10]}_{int(ss.get(MAP_GENERATION, 0))}", height=480,
                    use_container_width=True, returned_objects=["last_active_drawing", "last_object_clicked"])
    st.html(_legend())
    out = out if isinstance(out, dict) else {}
    click = out.get("last_object_clicked")
    clicked = _object_at(candidates, click)
    if clicked and clicked != ss.get(SELECTED) and click != ss.get("rv_last_click"):
        ss["rv_last_click"] = click
        ss[SELECT_NEXT] = clicked
        _rerun()
    drawing = out.get("last_active_drawing")
    if isinstance(drawing, dict) and drawing.get("geometry"):
        ss[PENDING] = drawing["geometry"]
    if ss.get(PENDING):
        c_add, c_drop = st.columns([1, 1])
        if c_add.button(t("review.add_drawn"), key="rv_add_drawn", icon=":material/add_location_alt:",
                        type="primary"):
            def add() -> str:
                r = store.draw(ss.get(PENDING), _who(), why)
                _remember(folder, r.review_id)
                return t("review.drawn_added", area=r.area_ha)
            _act(add)
            if ss.get(NOTICE, ("",))[0] == "error":
                ss[NOTICE] = ("error", t("review.drawn_refused", reason=ss[NOTICE][1]))
            ss[PENDING] = None
            ss[MAP_GENERATION] = int(ss.get(MAP_GENERATION, 0)) + 1
            _rerun()
        if c_drop.button(t("review.drop_drawn"), key="rv_drop_drawn", icon=":material/delete:"):
            ss[PENDING] = None
            ss[MAP_GENERATION] = int(ss.get(MAP_GENERATION, 0)) + 1
            _rerun()
    _chips(result, len(reviews))


# ---------------------------------------------------------------- chips

def _chips(result, n_reviews: int) -> None:
    ss = st.session_state
    st.markdown(t("review.chips_title"))
    if CHIPS_DIR not in ss:
        ss[CHIPS_DIR] = ss.get(LAST_CHIPS) or default_chips_dir()
    c_dir, c_bg = st.columns([3, 1])
    c_dir.text_input(t("review.chips_dir"), key=CHIPS_DIR)
    c_bg.number_input(t("review.background"), min_value=0.0, max_value=10.0, value=1.0, step=0.5,
                      key="rv_background", help=t("review.background_help"))
    job = ss.get(CHIPS_JOB)
    busy = job is not None and job.running
    if st.button(t("review.make_chips"), key="rv_make_chips", icon=":material/grid_on:",
                 disabled=busy or n_reviews == 0, help=t("review.make_chips_help")):
        target = str(ss.get(CHIPS_DIR) or "").strip()
        if not target:
            st.error(t("review.no_folder"), icon=":material/error:")
        else:
            ss[CHIPS_JOB] = jobs.Job(_chips_work(str(result.folder), target, float(ss.get("rv_background", 1.0))),
                                     description=target, stages=("chips",)).start()
    if n_reviews == 0:
        st.caption(t("review.review_first"))
    if ss.get(CHIPS_JOB) is not None:
        _chips_panel()


def _chips_work(folder: str, target: str, background: float):
    def work(progress=None, cancel=None):
        from landslide_core.review.chips import make_chips

        return make_chips(folder, target, background, progress=progress, cancel=cancel)
    return work


def _chips_panel() -> None:
    def show_chips(job) -> None:
        ss = st.session_state
        report = job.result
        ss[LAST_CHIPS] = str(report.out_dir)
        st.success(report.text(), icon=":material/check_circle:")
        if st.button(t("review.finetune"), key="rv_finetune", icon=":material/model_training:"):
            ss[FINETUNE_CHIPS_PENDING] = str(report.out_dir)
            st.switch_page("pages/3_Training.py")

    # When the chips are made the panel reruns the whole page once: a page run makes it anew
    # without the refresh timer (a timer left running would keep rerunning whatever page
    # "Fine-tune a model on these chips" opens).
    job_panel(CHIPS_JOB, lambda job: t("review.cutting", done=job.done, total=job.total, seconds=job.elapsed_s),
              show_chips, cancel=(t("review.cancel"), "rv_chips_cancel"))


__all__ = ["section", "review_map", "default_chips_dir", "FINETUNE_CHIPS_PENDING", "LAST_CHIPS"]
