"""The dashboard's language: chosen in the sidebar, kept in the session; by default
``LANDSLIDE_LANG`` when set, else the browser's language (``st.context``), else English.

Every text of the pages goes through :func:`t` (``landslide_core.i18n``'s catalogue, in the
session's language); errors from the core through :func:`error_text`.
"""
from __future__ import annotations

from typing import Any, Optional

import streamlit as st

from landslide_core import i18n
from landslide_core.i18n import LANGUAGES

#: Session key (a widget): the language of this session.
LANG = "w_lang"


def browser_language() -> Optional[str]:
    """The browser's language when the catalogue has it (navigator.language, else Accept-Language)."""
    try:
        lang = i18n.normalise_language(getattr(st.context, "locale", None))
        if lang:
            return lang
        headers = st.context.headers or {}
        return i18n.pick_language(headers.get("Accept-Language") or headers.get("accept-language"))
    except Exception:  # noqa: BLE001 - no browser context (a test, a script): no preference
        return None


def default_language() -> str:
    return i18n.env_language() or browser_language() or i18n.DEFAULT_LANGUAGE


def lang() -> str:
    """This session's language (set to the default on first use)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        if get_script_run_ctx(suppress_warning=True) is None:
            return default_language()  # a background thread or a bare script: no session
        ss = st.session_state
        value = ss.get(LANG)
        if value not in LANGUAGES:
            value = default_language()
            ss[LANG] = value
        return value
    except Exception:  # noqa: BLE001 - no session (a map built in a test or a script)
        return default_language()


def t(key: str, /, **params: Any) -> str:
    """The message ``key`` in this session's language."""
    return i18n.t(key, lang(), **params)


def t_count(key: str, count: int, /, **params: Any) -> str:
    """``key.one`` or ``key.other`` by ``count``, in this session's language."""
    return i18n.t_count(key, count, lang(), **params)


def error_text(exc: BaseException) -> str:
    """A core error in this session's language (translated when it carries a message id)."""
    return i18n.localized(exc, lang())


def language_picker() -> None:
    """The language choice, in the sidebar of every page (drawn by app.py before the page)."""
    st.session_state[LANG] = lang()  # kept across pages, like the other widgets (state.keep)
    st.sidebar.selectbox(t("ui.language"), list(LANGUAGES), format_func=LANGUAGES.get, key=LANG)


__all__ = ["LANG", "lang", "t", "t_count", "error_text", "language_picker", "default_language"]
