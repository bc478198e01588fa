"""One way to show a failure in a page: a clear message, never a traceback."""
from __future__ import annotations

import logging

import streamlit as st

from landslide_core.errors import Cancelled, UserError

from .i18n import error_text as _localized
from .i18n import t

log = logging.getLogger("landslide.dashboard")


def error_text(exc: BaseException) -> str:
    """The message a person reads for ``exc`` (what was wrong, what to do)."""
    if isinstance(exc, UserError):
        return _localized(exc)
    return t("ui.error.unexpected", error=type(exc).__name__)


def show_error(exc: BaseException) -> None:
    """Render ``exc`` in the page: UserError as st.error (st.warning when cancelled); other
    exceptions as a short message, with the traceback going to the server log only."""
    if isinstance(exc, Cancelled):
        st.warning(error_text(exc), icon=":material/cancel:")
    elif isinstance(exc, UserError):
        st.error(error_text(exc), icon=":material/error:")
    else:
        log.error("Unexpected error in the dashboard", exc_info=(type(exc), exc, exc.__traceback__))
        st.error(error_text(exc), icon=":material/error:")
