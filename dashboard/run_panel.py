"""The Monitor page's run section: the running analysis with Cancel, then its result.

A result belongs to the inputs it was run for: when the area, the dates or the settings
change, the old result (or error) leaves the page, so numbers on screen always match the
inputs above them.
"""
from __future__ import annotations

from typing import Any, Optional

import streamlit as st

from landslide_core.analysis import STAGES
from landslide_core.errors import Cancelled

from . import history, state, ui
from .errors import show_error
from .i18n import t

#: Catalogue keys of the pipeline's stages.
STAGE_KEYS = {"fetch pre": "monitor.stage.fetch_pre", "fetch post": "monitor.stage.fetch_post",
              "detect pre": "monitor.stage.detect_pre", "detect post": "monitor.stage.detect_post",
              "change": "monitor.stage.change"}


def stage_label(stage: str) -> str:
    return t(STAGE_KEYS[stage]) if stage in STAGE_KEYS else t("monitor.stage.starting")
#: How often the progress panel refreshes (seconds): Cancel shows within this.
REFRESH_S = 0.5


def inputs_key(request, source_name: str, local_paths: Optional[dict], model_path: Optional[str],
               options: Any) -> Optional[str]:
    """A signature of everything a run depends on (None when the inputs are incomplete)."""
    if request is None:
        return None
    from landslide_core.analysis import options_dict

    try:
        opts = options_dict(options)
    except Exception:  # noqa: BLE001 - unusual options: still a key
        opts = repr(options)
    return state.signature({"request": request.normalised(), "source": source_name,
                            "files": sorted((local_paths or {}).items()), "model": str(model_path or ""),
                            "options": opts})


def drop_stale_job(current_key: Optional[str]) -> bool:
    """Forget a finished run whose inputs differ from the current ones; True when one was dropped."""
    ss = st.session_state
    job = ss.get(state.JOB)
    if job is None or job.running or getattr(job, "inputs_key", None) == current_key:
        return False
    ss[state.JOB] = None
    return True


def remember_finished() -> None:
    """A finished run's result becomes this session's (shown on Compare, its scenes on the map);
    once per run. Called before the page draws its map."""
    job = st.session_state.get(state.JOB)
    if job is None or job.running or job.error is not None or getattr(job, "remembered", False):
        return
    job.remembered = True
    history.remember(job.result.folder, job.description)


def job_panel(job) -> None:
    """Progress of the running analysis (refreshed twice a second) with Cancel; then its result."""

    @st.fragment(run_every=REFRESH_S if job.running else None)
    def panel() -> None:
        ss = st.session_state
        current = ss.get(state.JOB)
        if current is None:
            return
        if current.running:
            st.progress(current.fraction(), text=f"{stage_label(current.stage)}... ({current.elapsed_s:.0f} s)")
            lines = []
            for stage in STAGES:
                if stage in current.stages_done:
                    mark = ":material/check_circle:"
                elif stage == current.stage:
                    mark = ":material/pending:"
                else:
                    mark = ":material/radio_button_unchecked:"
                lines.append(f"{mark} {stage_label(stage)}")
            st.markdown("  \n".join(lines))
            if st.button(t("monitor.cancel"), key="btn_cancel", icon=":material/cancel:"):
                current.cancel()
                st.rerun()  # the whole page: the run button is free again at once
            return
        if not current.shown:
            current.shown = True
            st.rerun()  # the whole page, so everything sees the result
        show_job_result(current)

    panel()


def show_job_result(job) -> None:
    if job.error is not None:
        show_error(job.error)
        if isinstance(job.error, Cancelled):
            st.caption(t("monitor.cancelled_note"))
        return
    result = job.result
    remember_finished()
    change = (result.summary or {}).get("change", {})
    if result.from_cache:
        st.info(t("monitor.from_cache", seconds=f"{job.elapsed_s:.2f}"), icon=":material/bolt:")
    else:
        st.success(t("monitor.finished", seconds=f"{result.elapsed_s:.1f}"), icon=":material/check_circle:")
    with st.container(horizontal=True, gap="medium"):
        st.metric(t("compare.metric.new_count"), f"{int(change.get('new_count', 0))}", width="content")
        st.metric(t("compare.metric.new_ha"), f"{float(change.get('new_ha', 0.0)):,.2f}", width="content")
        st.metric(t("compare.metric.persisting_ha"), f"{float(change.get('persisting_ha', 0.0)):,.2f}",
                  width="content")
        st.metric(t("compare.metric.not_assessable_ha"), f"{float(change.get('not_assessable_ha', 0.0)):,.2f}",
                  width="content")
    ui.page_link("pages/2_Compare.py", t("monitor.to_compare"), ":material/compare:")
