"""The home page: what the tool does, source states, models, this session's analyses and the
server's history."""
from __future__ import annotations

import streamlit as st

from dashboard import history, state, ui
from dashboard.errors import show_error

#: How many analyses of the server's history the home page lists.
HISTORY_LIMIT = 20


#: Model-card numbers that count things: shown as whole numbers.
COUNT_METRICS = ("epoch", "epochs", "best_epoch", "count", "events", "patches", "tp", "fp", "fn", "tn")


def metric_text(name: str, value) -> str:
    """A model-card metric as people read it: counts (epoch) as whole numbers, scores to 3 places."""
    if name.lower() in COUNT_METRICS or isinstance(value, bool) or isinstance(value, int):
        return f"{name} {int(value)}"
    return f"{name} {value:.3f}"


def _analysis_line(result, label) -> str:
    change = (result.summary or {}).get("change", {})
    pre, post = result.request.get("pre", ["?", "?"]), result.request.get("post", ["?", "?"])
    area = history.describe_area(result.request, label)
    return (f"**{ui.escape_markdown(area)}**  \n{result.finished[:16].replace('T', ' ')} UTC · "
            f"{result.source.get('name')} · before {pre[0]} to {pre[1]}, after {post[0]} to {post[1]} · "
            f"**{int(change.get('new_count', 0))}** new landslides, {float(change.get('new_ha', 0)):,.2f} ha")


def _analysis_rows(items, key_prefix: str) -> None:
    for result, label in items:
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.markdown(_analysis_line(result, label))
        if c2.button("Open", key=f"{key_prefix}_{result.key}"):
            history.remember(result.folder, label)
            st.switch_page("pages/2_Compare.py")


def render() -> None:
    ui.page_setup("Home")

    st.title(ui.APP_TITLE)
    st.markdown(ui.ABOUT)
    ui.page_link("pages/1_Monitor.py", "Start: monitor an area", ":material/travel_explore:")

    # ---------------------------------------------------------------- sources
    st.subheader("Imagery sources")
    for name in ("demo", "earthengine", "local"):
        title = f"**{state.SOURCE_LABELS[name]}**: "
        if name == "local":
            st.success(title + "ready: upload a 'before' and an 'after' scene GeoTIFF on the Monitor page.",
                       icon=":material/check_circle:")
            continue
        ready, message = ui.source_readiness(name)
        short = state.SOURCE_LABELS[name].split(" (")[0]
        if message.lower().startswith(short.lower() + ":"):  # "Demo: ready ..." under the title "Demo ..."
            message = message[len(short) + 1:].strip()
        if ready:
            st.success(title + message, icon=":material/check_circle:")
        else:
            st.warning(title + message, icon=":material/cloud_off:")
    if st.button("Test the sources again", key="btn_retest"):
        ui.source_readiness.clear()
        st.rerun()

    # ---------------------------------------------------------------- models
    st.subheader("Models")
    entries = ui.list_model_entries()
    if not entries:
        st.warning(f"No model in {state.models_dir()}. Train one on the Training page, or copy a model's "
                   ".json card and .safetensors weights into that folder.", icon=":material/error:")
    else:
        with st.container(horizontal=True, gap="small"):
            for entry in entries:
                card = entry.card
                with st.container(border=True, width=420):
                    st.markdown(f"**{ui.escape_markdown(card.name)}** · {card.architecture} · bands `{card.band_set}`")
                    st.caption(f"Trained on: {ui.escape_markdown(card.trained_on or 'not recorded')} · "
                               f"threshold {card.threshold:.2f} · created {card.created[:10]}")
                    metrics = {k: v for k, v in (card.metrics or {}).items() if isinstance(v, (int, float))}
                    if metrics:
                        st.caption(" · ".join(metric_text(k, v) for k, v in list(metrics.items())[:6]))
    for path, problem in ui.unusable_models():
        st.warning(f"Not usable: {path.name}. {problem}", icon=":material/error:")

    # ---------------------------------------------------------------- analyses
    st.subheader("Your analyses")
    mine = history.mine()
    if mine:
        _analysis_rows(mine, "mine")
    else:
        st.info("None in this session yet. Run one on the Monitor page (the demo event is preselected), "
                "or open one from the history below.")
    try:
        from landslide_core.analysis import list_results

        everyone = list_results(state.results_root(), limit=HISTORY_LIMIT)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        everyone = []
    if everyone:
        latest = "the latest analysis" if len(everyone) == 1 else f"the latest {len(everyone)} analyses"
        with st.expander(f"History: {latest} run on this server"):
            st.caption("Results are kept for everyone on this server; open one to see it on the Compare page.")
            _analysis_rows([(r, None) for r in everyone], "open")
