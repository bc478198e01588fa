"""The home page: what the tool does, source states, models, recent analyses."""
from __future__ import annotations

import streamlit as st

from dashboard import state, ui
from dashboard.errors import show_error


def render() -> None:
    ui.page_setup("Home")

    st.title(ui.APP_TITLE)
    st.markdown(ui.ABOUT)
    ui.page_link("pages/1_Monitor.py", "Start: monitor an area", ":material/travel_explore:")

    # ---------------------------------------------------------------- sources
    st.subheader("Imagery sources")
    cols = st.columns(3)
    for col, name in zip(cols, ("demo", "earthengine", "local")):
        with col:
            st.markdown(f"**{state.SOURCE_LABELS[name]}**")
            if name == "local":
                st.success("Ready: upload a 'before' and an 'after' scene GeoTIFF on the Monitor page.",
                           icon=":material/check_circle:")
                continue
            ready, message = ui.source_readiness(name)
            if ready:
                st.success(message, icon=":material/check_circle:")
            else:
                st.warning(message, icon=":material/cloud_off:")
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
        model_cols = st.columns(min(len(entries), 3))
        for i, entry in enumerate(entries):
            card = entry.card
            with model_cols[i % len(model_cols)].container(border=True):
                st.markdown(f"**{card.name}** · {card.architecture} · bands `{card.band_set}`")
                st.caption(f"Trained on: {card.trained_on or 'not recorded'} · threshold {card.threshold:.2f} · "
                           f"created {card.created[:10]}")
                metrics = {k: v for k, v in (card.metrics or {}).items() if isinstance(v, (int, float))}
                if metrics:
                    st.caption(" · ".join(f"{k} {v:.3f}" for k, v in list(metrics.items())[:6]))
    for path, problem in ui.unusable_models():
        st.warning(f"Not usable: {path.name}. {problem}", icon=":material/error:")

    # ---------------------------------------------------------------- recent analyses
    st.subheader("Recent analyses")
    try:
        from landslide_core.analysis import list_results

        recent = list_results(state.results_root(), limit=10)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        recent = []
    if not recent:
        st.info("No analysis yet. Run one on the Monitor page (the demo event is preselected).")
    for r in recent:
        change = (r.summary or {}).get("change", {})
        pre, post = r.request.get("pre", ["?", "?"]), r.request.get("post", ["?", "?"])
        c1, c2 = st.columns([5, 1])
        c1.markdown(f"**{r.finished[:16].replace('T', ' ')}** · {r.source.get('name')} · "
                    f"before {pre[0]} to {pre[1]}, after {post[0]} to {post[1]} · "
                    f"**{int(change.get('new_count', 0))}** new landslides, {float(change.get('new_ha', 0)):,.2f} ha")
        if c2.button("Open", key=f"open_{r.key}"):
            st.session_state[state.RESULT_FOLDER] = str(r.folder)
            st.switch_page("pages/2_Compare.py")
