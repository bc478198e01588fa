"""One message catalogue in English and Spanish for the dashboard, the reports and the CLI.

Messages live in ``messages/*.toml``, one table per message with both languages side by side::

    [title]                     # in compare.toml: the key is "compare.title"
    en = "Compare before and after"
    es = "Comparar antes y después"

A key is the file's name, a dot, and the table's (dotted) name, so each part of the program
has its own file. Parameters
use ``str.format`` names (``{count}``); both languages must use the same ones (tested).

- :func:`t` looks a message up: ``t("compare.title", "es")``; without a language, the one
  set for this context (:func:`use_language`), else ``LANDSLIDE_LANG``, else English.
- :func:`pick_language` turns a browser's ``Accept-Language`` (or ``navigator.language``) into
  one of :data:`LANGUAGES`.
- :func:`localized` is the text of a :class:`~landslide_core.errors.UserError` in a language:
  errors raised with a message id (:func:`user_error`) are translated, the others stay as raised.

A missing key is a bug: it shows as ``⟦key⟧`` (and is logged); with ``LANDSLIDE_I18N_STRICT=1``
(the tests) it raises ``KeyError``.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os
import re
import string
import tomllib
from pathlib import Path
from typing import Any, Iterator, Optional

log = logging.getLogger(__name__)

#: The languages of the catalogue, each named in itself.
LANGUAGES: dict[str, str] = {"en": "English", "es": "Español"}
DEFAULT_LANGUAGE = "en"
LANG_ENV = "LANDSLIDE_LANG"
STRICT_ENV = "LANDSLIDE_I18N_STRICT"
MESSAGES_DIR = Path(__file__).resolve().parent / "messages"

_current: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("landslide_lang", default=None)


class CatalogueError(ValueError):
    """The catalogue files are malformed (a message without a language, a duplicate key...)."""


def _flatten(prefix: str, table: dict[str, Any], out: dict[str, dict[str, str]], origin: str) -> None:
    if table and all(isinstance(v, str) for v in table.values()) and set(table) & set(LANGUAGES):
        if prefix in out:
            raise CatalogueError(f"{origin}: the message {prefix!r} is defined twice")
        out[prefix] = dict(table)
        return
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        if not isinstance(value, dict):
            raise CatalogueError(f"{origin}: {key!r} is not a message table (en = ..., es = ...)")
        _flatten(key, value, out, origin)


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """Every message: {key: {language: text}} from ``messages/*.toml``."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(MESSAGES_DIR.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise CatalogueError(f"{path.name}: {exc}") from None
        _flatten(path.stem, data, out, path.name)
    return out


def normalise_language(lang: Optional[str]) -> Optional[str]:
    """'es-PE', 'es_PE.UTF-8', 'ES' -> 'es'; a language the catalogue lacks -> None."""
    if not lang:
        return None
    code = re.split(r"[-_.@]", str(lang).strip().lower(), maxsplit=1)[0]
    return code if code in LANGUAGES else None


def env_language() -> Optional[str]:
    """The language set by ``LANDSLIDE_LANG`` (None when unset or not in the catalogue)."""
    return normalise_language(os.environ.get(LANG_ENV))


def pick_language(accept_language: Optional[str]) -> Optional[str]:
    """The first catalogue language of an ``Accept-Language`` header ('es-PE,es;q=0.9,en;q=0.8'),
    by preference weight; None when it names none."""
    if not accept_language:
        return None
    ranked = []
    for i, part in enumerate(str(accept_language).split(",")):
        bits = part.strip().split(";")
        q = 1.0
        for b in bits[1:]:
            b = b.strip()
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        lang = normalise_language(bits[0])
        if lang and q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


def current_language() -> str:
    """The language of this context: :func:`use_language`'s, else ``LANDSLIDE_LANG``, else English."""
    return _current.get() or env_language() or DEFAULT_LANGUAGE


@contextlib.contextmanager
def use_language(lang: Optional[str]) -> Iterator[str]:
    """``with use_language("es"):`` messages without an explicit language are in Spanish."""
    token = _current.set(normalise_language(lang) or current_language())
    try:
        yield _current.get() or DEFAULT_LANGUAGE
    finally:
        _current.reset(token)


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes")


def has(key: str) -> bool:
    return key in catalogue()


def t(key: str, lang: Optional[str] = None, /, **params: Any) -> str:
    """The message ``key`` in ``lang`` (default: :func:`current_language`), formatted with ``params``."""
    lang = normalise_language(lang) or current_language()
    entry = catalogue().get(key)
    if entry is None:
        if _strict():
            raise KeyError(f"message {key!r} is not in the catalogue (landslide_core/i18n/messages)")
        log.warning("message %r is not in the catalogue", key)
        return f"⟦{key}⟧"
    text = entry.get(lang) or entry.get(DEFAULT_LANGUAGE) or ""
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError) as exc:
        if _strict():
            raise
        log.warning("message %r could not be formatted (%s)", key, exc)
        return text


def t_count(key: str, count: int, lang: Optional[str] = None, /, **params: Any) -> str:
    """``key.one`` for a count of 1, else ``key.other``; ``{count}`` is filled in."""
    return t(f"{key}.{'one' if int(count) == 1 else 'other'}", lang, count=count, **params)


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a message."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# --------------------------------------------------------------------------- errors

def user_error(cls: type, key: str, /, **params: Any):
    """An error of class ``cls`` (a UserError) whose what and fix come from the catalogue
    (``<key>.what`` and, when present, ``<key>.fix``). Its ``str()`` is English, as for every
    error; :func:`localized` gives it in another language."""
    what = t(f"{key}.what", "en", **params)
    fix = t(f"{key}.fix", "en", **params) if has(f"{key}.fix") else None
    exc = cls(what, fix)
    exc.message_id = key
    exc.message_params = params
    return exc


def localized(exc: BaseException, lang: Optional[str] = None) -> str:
    """The text of an error in ``lang``: translated when it was raised with a message id
    (:func:`user_error`), else as raised."""
    key = getattr(exc, "message_id", None)
    if not key or not has(f"{key}.what"):
        return str(exc)
    params = getattr(exc, "message_params", None) or {}
    what = t(f"{key}.what", lang, **params)
    fix = t(f"{key}.fix", lang, **params) if has(f"{key}.fix") else None
    return f"{what} {fix}" if fix else what


__all__ = ["LANGUAGES", "DEFAULT_LANGUAGE", "LANG_ENV", "catalogue", "t", "t_count", "has", "current_language",
           "use_language", "pick_language", "normalise_language", "env_language", "placeholders", "user_error",
           "localized", "CatalogueError"]
