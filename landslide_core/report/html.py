"""The situation report as one self-contained HTML file (pictures inside), printable on A4."""
from __future__ import annotations

import base64
from html import escape

from .content import ReportText, Table

CSS = """
@page { size: A4; margin: 15mm; }
body { font-family: "DejaVu Sans", "Segoe UI", Arial, sans-serif; color: #111; max-width: 180mm;
       margin: 0 auto; font-size: 10pt; line-height: 1.35; }
h1 { color: #b5442c; font-size: 18pt; margin: 0 0 2mm; }
h2 { color: #b5442c; font-size: 11.5pt; margin: 6mm 0 2mm; }
.area { font-size: 13pt; font-weight: bold; margin: 0; }
.dates { margin: 1mm 0 3mm; }
img { max-width: 100%; }
.caption { color: #555; font-style: italic; font-size: 8pt; margin: 0 0 3mm; }
.figures { display: flex; gap: 2.5mm; margin: 3mm 0; }
.figure { flex: 1; background: #f3f3f3; padding: 2mm; }
.figure:first-child { background: #f6eeeb; }
.figure .label { color: #555; font-size: 7.5pt; }
.figure .value { font-size: 13pt; font-weight: bold; }
.figure:first-child .value { color: #b5442c; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; }
th { background: #b5442c; color: white; text-align: left; padding: 1mm 1.5mm; }
td { border-bottom: 1px solid #ccc; padding: 0.8mm 1.5mm; }
td.num, th.num { text-align: right; }
img.chart { max-width: 60%; display: block; margin: 0 auto; }
dl { display: grid; grid-template-columns: 40mm 1fr; gap: 1mm 3mm; font-size: 9pt; }
dt { font-weight: bold; }
dd { margin: 0; }
.page2 { break-before: page; }
"""


def _img(png: bytes, alt: str, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<img{klass} alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table(table: Table, numeric: tuple[int, ...] = ()) -> str:
    out = [f"<h2>{escape(table.title)}</h2>"]
    if not table.rows:
        return out[0] + f"<p>{escape(table.empty)}</p>"
    out.append("<table><thead><tr>" + "".join(f'<th{" class=num" if i in numeric else ""}>{escape(c)}</th>'
                                              for i, c in enumerate(table.columns)) + "</tr></thead><tbody>")
    for row in table.rows:
        out.append("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{escape(c)}</td>'
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _pairs(lines: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{escape(a)}</dt><dd>{escape(b)}</dd>" for a, b in lines) + "</dl>"


def render_html(text: ReportText, map_png: bytes, chart_png: bytes) -> bytes:
    """The report's HTML (UTF-8 bytes)."""
    figures = "".join(f'<div class="figure"><div class="label">{escape(a)}</div><div class="value">{escape(b)}</div>'
                      "</div>" for a, b in text.figures)
    caveats = "<ul>" + "".join(f"<li>{escape(c)}</li>" for c in text.caveats) + "</ul>"
    caption = text.map_caption_html or text.map_caption
    body = (f"<h1>{escape(text.title)}</h1><p class=area>{escape(text.area)}</p>"
            f"<p class=dates>{escape(text.dates_line)}</p>{_img(map_png, caption)}"
            f"<p class=caption>{escape(caption)}</p><div class=figures>{figures}</div>"
            f"<p>{escape(text.sentence)}</p><div class=page2>{_table(text.top, (0, 1, 2, 3, 4))}"
            f"<h2>{escape(text.chart_title)}</h2>{_img(chart_png, text.chart_title, 'chart')}{_table(text.scenes)}"
            f"<h2>{escape(text.model_title)}</h2>{_pairs(text.model_lines)}"
            f"<h2>{escape(text.caveats_title)}</h2>{caveats}"
            f"<h2>{escape(text.made_title)}</h2>{_pairs(text.made_lines)}</div>")
    doc = (f'<!DOCTYPE html><html lang="{escape(text.lang)}"><head><meta charset="utf-8">'
           f"<title>{escape(text.title)}: {escape(text.area)}</title><style>{CSS}</style></head>"
           f"<body>{body}</body></html>")
    return doc.encode("utf-8")


__all__ = ["render_html"]
