"""The home page: what the tool does, source states, models, this session's analyses and the
server's history."""
from __future__ import annotations

import streamlit as st

from dashboard import history, state, ui
from dashboard.errors import show_error
from dashboard.i18n import t, t_count

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
            f"{state.source_label(str(result.source.get('name')))} · "
            + t("home.analysis_line", pre_start=pre[0], pre_end=pre[1], post_start=post[0], post_end=post[1])
            + " · " + t_count("home.new_landslides", int(change.get("new_count", 0)),
                              ha=f"{float(change.get('new_ha', 0)):,.2f}"))


def _analysis_rows(items, key_prefix: str) -> None:
    for result, label in items:
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.markdown(_analysis_line(result, label))
        if c2.button(t("home.open"), key=f"{key_prefix}_{result.key}"):
            history.remember(result.folder, label)
            st.switch_page("pages/2_Compare.py")


def render() -> None:
    ui.page_setup("Home")

    st.title(t("ui.app_title"))
    st.markdown(t("home.about"))
    ui.page_link("pages/1_Monitor.py", t("home.start"), ":material/travel_explore:")

    # ---------------------------------------------------------------- sources
    st.subheader(t("home.sources"))
    for name in ("demo", "earthengine", "local"):
        title = f"**{state.source_label(name)}**: "
        if name == "local":
            st.success(title + t("home.local_ready"), icon=":material/check_circle:")
            continue
        ready, message = ui.source_readiness(name)
        message = ui.readiness_text(name, ready, message)
        short = state.SOURCE_LABELS[name].split(" (")[0]
        if message.lower().startswith(short.lower() + ":"):  # "Demo: ready ..." under the title "Demo ..."
            message = message[len(short) + 1:].strip()
        if ready:
            st.success(title + message, icon=":material/check_circle:")
        else:
            st.warning(title + message, icon=":material/cloud_off:")
    if st.button(t("home.retest"), key="btn_retest"):
        ui.source_readiness.clear()
        st.rerun()

    # ---------------------------------------------------------------- models
    st.subheader(t("home.models"))
    entries = ui.list_model_entries()
    if not entries:
        st.warning(t("home.no_model", folder=str(state.models_dir())), icon=":material/error:")
    else:
        with st.container(horizontal=True, gap="small"):
            for entry in entries:
                card = entry.card
                with st.container(border=True, width=420):
                    st.markdown(f"**{ui.escape_markdown(card.name)}** · {card.architecture} · "
                                + t("home.bands", bands=card.band_set))
                    st.caption(t("home.card_line", trained_on=ui.escape_markdown(card.trained_on or t("report.not_recorded")),
                                 threshold=f"{card.threshold:.2f}", created=card.created[:10]))
                    metrics = {k: v for k, v in (card.metrics or {}).items() if isinstance(v, (int, float))}
                    if metrics:
                        st.caption(" · ".join(metric_text(k, v) for k, v in list(metrics.items())[:6]))
    for path, problem in ui.unusable_models():
        st.warning(t("home.unusable_model", file=path.name, problem=problem), icon=":material/error:")

    # ---------------------------------------------------------------- analyses
    st.subheader(t("home.your_analyses"))
    mine = history.mine()
    if mine:
        _analysis_rows(mine, "mine")
    else:
        st.info(t("home.none_yet"))
    try:
        from landslide_core.analysis import list_results

        everyone = list_results(state.results_root(), limit=HISTORY_LIMIT)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        everyone = []
    if everyone:
        with st.expander(t_count("home.history", len(everyone))):
            st.caption(t("home.history_caption"))
            _analysis_rows([(r, None) for r in everyone], "open")
