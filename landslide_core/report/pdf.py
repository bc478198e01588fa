"""The situation report as an A4 PDF (fpdf2), two pages.

Page 1: title (area, dates of both scenes), the map, the key figures and one sentence.
Page 2: the ten largest new landslides, the slope-class chart, the scenes used with their
cloud share, the model and its caveats, and when and how the report was made.
Text is set in DejaVu Sans (shipped with matplotlib), which has every Spanish letter.
"""
from __future__ import annotations

import io
from pathlib import Path

from .content import ReportText, Table

MARGIN_MM = 15
PAGE_W_MM = 210
TEXT_W_MM = PAGE_W_MM - 2 * MARGIN_MM
ACCENT = (181, 68, 44)
GREY = (90, 90, 90)


def font_paths() -> dict[str, Path]:
    """DejaVu Sans regular and bold from matplotlib's own fonts (a pinned dependency)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return {"": folder / "DejaVuSans.ttf", "B": folder / "DejaVuSans-Bold.ttf", "I": folder / "DejaVuSans-Oblique.ttf"}


def _doc(text: ReportText):
    from fpdf import FPDF

    class _Report(FPDF):
        def footer(self) -> None:
            self.set_y(-11)
            self.set_font("DejaVu", "", 7)
            self.set_text_color(*GREY)
            self.cell(0, 4, f"{text.title} · {text.area} · {text.page_label.format(page=self.page_no())}",
                      align="C")

    pdf = _Report(orientation="portrait", unit="mm", format="A4")
    for style, path in font_paths().items():
        pdf.add_font("DejaVu", style=style, fname=str(path))
    pdf.set_margins(MARGIN_MM, 14, MARGIN_MM)
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_title(f"{text.title}: {text.area}")
    pdf.set_author("landslide-monitor")
    pdf.set_creator("landslide-monitor")
    pdf.set_lang(text.lang)
    return pdf


def _heading(pdf, title: str, size: float = 11) -> None:
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", size)
    pdf.set_text_color(*ACCENT)
    pdf.multi_cell(TEXT_W_MM, 6, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _table(pdf, table: Table, widths: list[float], size: float = 8, align: tuple = ()) -> None:
    _heading(pdf, table.title)
    if not table.rows:
        pdf.set_font("DejaVu", "", 9)
        pdf.multi_cell(TEXT_W_MM, 5, table.empty, new_x="LMARGIN", new_y="NEXT")
        return
    pdf.set_font("DejaVu", "", size)
    with pdf.table(col_widths=widths, width=sum(widths), align="LEFT", line_height=size * 0.55,
                   text_align=align or "LEFT", borders_layout="HORIZONTAL_LINES",
                   headings_style=_headings_style()) as tbl:
        head = tbl.row()
        for c in table.columns:
            head.cell(c)
        for r in table.rows:
            row = tbl.row()
            for c in r:
                row.cell(c)


def _headings_style():
    from fpdf.fonts import FontFace

    return FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=ACCENT)


def _pairs(pdf, lines: list[tuple[str, str]], label_w: float = 40, size: float = 8.5) -> None:
    pdf.set_font("DejaVu", "", size)
    with pdf.table(col_widths=(label_w, TEXT_W_MM - label_w), width=TEXT_W_MM, align="LEFT",
                   first_row_as_headings=False, borders_layout="NONE", line_height=size * 0.5,
                   text_align="LEFT", cell_fill_mode="NONE",
                   padding=(0.6, 1, 0.6, 0)) as tbl:
        for label, value in lines:
            row = tbl.row()
            pdf.set_font("DejaVu", "B", size)
            row.cell(label)
            pdf.set_font("DejaVu", "", size)
            row.cell(value)


def _figures(pdf, figures: list[tuple[str, str]]) -> None:
    n = len(figures)
    gap = 2.5
    w = (TEXT_W_MM - gap * (n - 1)) / n
    x0, y0 = pdf.get_x(), pdf.get_y()
    for i, (label, value) in enumerate(figures):
        x = x0 + i * (w + gap)
        pdf.set_fill_color(246, 238, 235) if i == 0 else pdf.set_fill_color(243, 243, 243)
        pdf.rect(x, y0, w, 19, style="F")
        pdf.set_xy(x + 1.5, y0 + 1.5)
        pdf.set_font("DejaVu", "", 7)
        pdf.set_text_color(*GREY)
        pdf.multi_cell(w - 3, 3.2, label, new_x="LEFT", new_y="NEXT", align="L")
        pdf.set_xy(x + 1.5, y0 + 11.5)
        pdf.set_font("DejaVu", "B", 12)
        pdf.set_text_color(*(ACCENT if i == 0 else (0, 0, 0)))
        pdf.cell(w - 3, 6, value)
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(x0, y0 + 21)


def _jpeg(png: bytes, quality: int = 90) -> io.BytesIO:
    """A photo-like PNG (the map) as a JPEG: a tenth of the bytes, so the report travels by
    e-mail; fpdf2 embeds JPEG data as it is."""
    from PIL import Image

    out = io.BytesIO()
    with Image.open(io.BytesIO(png)) as img:
        img.convert("RGB").save(out, "JPEG", quality=quality, optimize=True)
    out.seek(0)
    return out


def render_pdf(text: ReportText, map_png: bytes, chart_png: bytes) -> bytes:
    """The report's PDF bytes."""
    pdf = _doc(text)
    # -------------------------------------------------------------- page 1
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 17)
    pdf.set_text_color(*ACCENT)
    pdf.multi_cell(TEXT_W_MM, 8, text.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("DejaVu", "B", 12.5)
    pdf.multi_cell(TEXT_W_MM, 6.5, text.area, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9.5)
    pdf.multi_cell(TEXT_W_MM, 5, text.dates_line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.image(_jpeg(map_png), x=MARGIN_MM, w=TEXT_W_MM)
    pdf.set_font("DejaVu", "I", 7.5)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(TEXT_W_MM, 4, text.map_caption, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)
    _figures(pdf, text.figures)
    # The slope chart on the left, the figures in words on the right.
    half = (TEXT_W_MM - 6) / 2
    y0 = pdf.get_y() + 1
    pdf.image(io.BytesIO(chart_png), x=MARGIN_MM, y=y0, w=half)
    chart_bottom = pdf.get_y()
    right = MARGIN_MM + half + 6
    pdf.set_xy(right, y0 + 2)
    pdf.set_font("DejaVu", "", 10)
    pdf.multi_cell(half, 5.2, text.sentence, new_x="LEFT", new_y="NEXT", align="L")
    pdf.set_font("DejaVu", "", 8.5)
    for line in text.per_date:
        pdf.set_xy(right, pdf.get_y() + 1.5)
        pdf.multi_cell(half, 4.4, line, new_x="LEFT", new_y="NEXT", align="L")
    pdf.set_xy(MARGIN_MM, max(chart_bottom, pdf.get_y()))
    # -------------------------------------------------------------- page 2
    pdf.add_page()
    _table(pdf, text.top, [18, 30, 34, 49, 49], align=("RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"))
    _table(pdf, text.scenes, [22, 46, 24, 60, 28])
    _heading(pdf, text.model_title)
    _pairs(pdf, text.model_lines)
    _heading(pdf, text.caveats_title)
    pdf.set_font("DejaVu", "", 8.5)
    for caveat in text.caveats:
        pdf.multi_cell(TEXT_W_MM, 4.4, f"• {caveat}", new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(0.6)
    _heading(pdf, text.made_title)
    _pairs(pdf, text.made_lines)
    return bytes(pdf.output())


__all__ = ["render_pdf", "font_paths"]
