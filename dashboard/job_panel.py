"""The page side of a background :class:`~dashboard.jobs.Job`: a fragment that shows its
progress every half second (with a Cancel button), reruns the whole page once when it ends
(so the rest of the page sees what it made, and the refresh timer stops), then shows its error
or its result."""
from __future__ import annotations

from typing import Callable, Optional

import streamlit as st

from .errors import show_error
from .jobs import Job


def job_panel(key: str, progress_text: Callable[[Job], str], show_result: Callable[[Job], None], *,
              cancel: Optional[tuple[str, str]] = None, on_end: Optional[Callable[[Job], None]] = None) -> None:
    """Show the job in ``st.session_state[key]`` (nothing when there is none).

    ``progress_text(job)``: the bar's text while it runs. ``cancel``: (button label, widget key)
    of a Cancel button, or None for work that cannot be cancelled here. ``on_end(job)``: run once
    when the job has succeeded, before the page's rerun (e.g. to fill in a field with its
    result). ``show_result(job)``: what a finished job shows, on every run after that.
    """
    job = st.session_state.get(key)
    if job is None:
        return

    @st.fragment(run_every=0.5 if job.running else None)
    def panel() -> None:
        current = st.session_state.get(key)
        if current is None:
            return
        if current.running:
            st.progress(current.fraction(), text=progress_text(current))
            if cancel is not None and st.button(cancel[0], key=cancel[1], icon=":material/cancel:"):
                current.cancel()
                st.rerun()
            return
        if not current.shown:
            current.shown = True
            if current.error is None and on_end is not None:
                on_end(current)
            st.rerun()  # the whole page, and no refresh timer left running
        if current.error is not None:
            show_error(current.error)
            return
        show_result(current)

    panel()
