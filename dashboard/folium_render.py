"""Rendering folium maps without compiling their rendered text as templates.

branca's ``MacroElement.render`` puts the text of each rendered macro (its header, html and
script parts) into a new ``Element(text)``, which compiles that text as a Jinja template only
to render it again, unchanged, when the figure is written out. A 400 km2 Compare page
compiles about 140 such texts per run, some of them the GeoJSON of hundreds of outlines:
about 0.2 s of every run, for nothing (``bench/interactive.py``).

:func:`install` makes ``MacroElement.render`` keep a text that holds no template syntax as it
is (:class:`RenderedText`), with Jinja's one change to plain text made by hand (one trailing
newline dropped), so the page is the same to the byte (``tests/test_dashboard_maps.py``).
A text that does hold ``{{``, ``{%`` or ``{#`` still goes through an ``Element``, as before.
"""
from __future__ import annotations

import branca
from branca.element import Element, Figure, MacroElement

_TEMPLATE_MARKS = ("{{", "{%", "{#")


class RenderedText(Element):
    """Text that is already rendered: written out as it is."""

    def __init__(self, text: str):
        super().__init__()
        # Jinja (keep_trailing_newline=False) drops one trailing newline of a template's text
        self._text = text[:-1] if text.endswith("\n") else text

    def render(self, **kwargs) -> str:  # noqa: ARG002 - the Element interface
        return self._text


def _text_element(text: str) -> Element:
    if any(mark in text for mark in _TEMPLATE_MARKS):
        return Element(text)
    return RenderedText(text)


def _render(self: MacroElement, **kwargs) -> None:
    """``MacroElement.render`` (branca 0.8) with :func:`_text_element` for the rendered parts."""
    figure = self.get_root()
    assert isinstance(figure, Figure), "You cannot render this Element if it is not in a Figure."
    module = self._template.module.__dict__
    for part, parent in (("header", figure.header), ("html", figure.html), ("script", figure.script)):
        macro = module.get(part, None)
        if macro is not None:
            parent.add_child(_text_element(macro(self, kwargs)), name=self.get_name())
    for element in self._children.values():
        element.render(**kwargs)


_ORIGINAL = MacroElement.render


#: The branca releases whose ``MacroElement.render`` :func:`_render` reproduces.
KNOWN_BRANCA = ("0.8.",)


def install() -> bool:
    """Render every folium map of this process this way (idempotent); False (nothing changed)
    under a branca release this was not checked against."""
    if not str(getattr(branca, "__version__", "")).startswith(KNOWN_BRANCA):
        return False
    MacroElement.render = _render
    return True


def uninstall() -> None:
    """Back to branca's own rendering (for the equivalence test)."""
    MacroElement.render = _ORIGINAL


__all__ = ["RenderedText", "install", "uninstall"]
