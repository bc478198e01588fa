"""QGIS styles for the exported rasters: a ``.qml`` beside each GeoTIFF (QGIS loads
``<name>.qml`` automatically when it opens ``<name>.tif``).

Class rasters (mask, change) get a paletted style with their classes named in the bundle's
language and coloured as the GeoTIFF's own colour table; the probability a colour ramp from
clear (0) to red (1).
"""
from __future__ import annotations

from xml.sax.saxutils import quoteattr

from ..exports import RasterKind
from ..i18n import t

QGIS_VERSION = "3.28.0"
#: Catalogue keys of the class names, per raster kind and value.
CLASS_KEYS = {
    "change": {0: "gis.class.stable", 1: "gis.class.new", 2: "gis.class.persisting", 3: "gis.class.vanished",
               255: "gis.class.not_assessable"},
    "mask": {0: "gis.class.stable_ground", 1: "gis.class.landslide", 255: "gis.class.not_assessable"},
}
PROBABILITY_RAMP = ((0.0, (255, 255, 255, 0)), (0.3, (254, 224, 139, 120)), (0.5, (253, 174, 97, 200)),
                    (0.75, (244, 109, 67, 230)), (1.0, (165, 0, 38, 255)))


def _hex(rgba) -> str:
    r, g, b = rgba[:3]
    return f"#{r:02x}{g:02x}{b:02x}"


def _wrap(renderer: str) -> str:
    return (f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            f'<qgis version="{QGIS_VERSION}" styleCategories="AllStyleCategories">\n'
            f"  <pipe>\n{renderer}"
            '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
            '    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255" '
            'colorizeGreen="128" colorizeBlue="128" colorizeStrength="100"/>\n'
            '    <rasterresampler maxOversampling="2"/>\n'
            "  </pipe>\n  <blendMode>0</blendMode>\n</qgis>\n")


def paletted_qml(kind: str, lang: str) -> str:
    """The paletted style of a class raster (``mask`` or ``change``)."""
    entries = []
    for value, (_, rgba) in RasterKind.classes(kind).items():
        if rgba[3] == 0:
            continue  # a clear class (stable ground) is left out: it shows nothing
        label = t(CLASS_KEYS[kind][value], lang)
        entries.append(f'        <paletteEntry value="{value}" color="{_hex(rgba)}" alpha="{rgba[3]}" '
                       f"label={quoteattr(label)}/>\n")
    renderer = ('    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
                "      <rasterTransparency/>\n      <colorPalette>\n" + "".join(entries) +
                "      </colorPalette>\n    </rasterrenderer>\n")
    return _wrap(renderer)


def probability_qml(lang: str) -> str:  # noqa: ARG001 - numbers need no words
    """A colour ramp over the probability, clear at 0, dark red at 1."""
    items = "".join(f'          <item value="{v:g}" color="{_hex(c)}" alpha="{c[3]}" label={quoteattr(f"{v:g}")}/>\n'
                    for v, c in PROBABILITY_RAMP)
    renderer = ('    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" '
                'classificationMin="0" classificationMax="1" nodataColor="">\n'
                "      <rasterTransparency/>\n      <rastershader>\n"
                f'        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" '
                f'minimumValue="0" maximumValue="1" labelPrecision="2">\n'
                f"{items}        </colorrampshader>\n      </rastershader>\n"
                "    </rasterrenderer>\n")
    return _wrap(renderer)


def qml_for(kind: str, lang: str) -> str:
    """The QGIS style of an exported raster of ``kind`` (probability, mask, change)."""
    if kind == "probability":
        return probability_qml(lang)
    return paletted_qml(kind, lang)


__all__ = ["qml_for", "paletted_qml", "probability_qml"]
