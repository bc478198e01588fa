"""The words of a situation report in one language, shared by the PDF and the HTML."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..i18n import t, t_count
from .facts import ReportFacts, software


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    empty: str = ""


@dataclass
class ReportText:
    lang: str
    title: str
    area: str
    dates_line: str
    figures: list[tuple[str, str]]
    sentence: str
    per_date: list[str]
    map_caption: str
    top: Table
    chart_title: str
    scenes: Table
    model_title: str
    model_lines: list[tuple[str, str]]
    caveats_title: str
    caveats: list[str]
    made_title: str
    made_lines: list[tuple[str, str]]
    page_label: str = ""
    #: The map's caption on one web page (the HTML report has no page 2).
    map_caption_html: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _ha(value: Any) -> str:
    return f"{float(value or 0.0):,.2f}"


def _deg(value: Optional[float], pos: str, neg: str) -> str:
    if value is None:
        return "?"
    return f"{abs(float(value)):.5f}° {pos if float(value) >= 0 else neg}"


def _num(value: Any, fmt: str = "{:.1f}") -> str:
    return "—" if value is None else fmt.format(float(value))


def _scene_rows(facts: ReportFacts, lang: str) -> list[list[str]]:
    rows = []
    for d in (facts.pre, facts.post):
        role = t(f"report.role.{d.role}", lang)
        window = t("report.window", lang, start=d.window[0], end=d.window[1])
        scenes = d.scenes or [{}]
        for i, s in enumerate(scenes[:6]):
            cloud = s.get("aoi_cloud_pct")
            cloud_text = _num(cloud, "{:.1f} %") if cloud is not None else _num(d.cloud_pct, "{:.1f} %")
            rows.append([role if i == 0 else "", window if i == 0 else "",
                         str(s.get("date") or d.date_text), str(s.get("scene_id") or s.get("id") or "—"), cloud_text])
        if len(scenes) > 6:
            rows.append(["", "", "", t("report.scenes.more", lang, count=len(scenes) - 6), ""])
    return rows


def _synthetic_model(model: dict[str, Any]) -> bool:
    return "synthetic" in str(model.get("trained_on") or "").lower()


def _caveats(facts: ReportFacts, lang: str) -> list[str]:
    ch = facts.change
    out = [t("report.caveat.estimate", lang, pixel_m=f"{facts.pixel_size_m:g}"),
           t("report.caveat.small_and_hidden", lang, min_area=f"{facts.min_area_ha:g}",
             not_assessable=_ha(ch.get("not_assessable_ha"))),
           t("report.caveat.threshold", lang, threshold=f"{facts.threshold:.2f}")]
    if _synthetic_model(facts.model):
        out.append(t("report.caveat.synthetic_model", lang))
    if facts.synthetic:
        out.append(t("report.caveat.synthetic_scenes", lang))
    shift = (facts.result.summary or {}).get("coregistration") or {}
    if shift.get("applied"):
        out.append(t("report.caveat.coregistered", lang, rows=f"{float(shift.get('rows_px', 0)):+.2f}",
                     cols=f"{float(shift.get('cols_px', 0)):+.2f}"))
    if not facts.at_run:
        out.append(t("report.caveat.rethresholded", lang,
                     run_threshold=f"{float((facts.result.summary or {}).get('threshold') or 0):.2f}"))
    return out


def _metric_line(model: dict[str, Any], lang: str) -> Optional[str]:
    metrics = model.get("metrics") or {}
    whole = metrics.get("whole_events_new_landslides") or {}
    if whole.get("f1") is not None:
        return t("report.model.score_events", lang, f1=f"{float(whole['f1']):.2f}", data=str(whole.get("data") or ""))
    if metrics.get("f1") is not None:
        return t("report.model.score", lang, f1=f"{float(metrics['f1']):.2f}", split=str(metrics.get("split") or "?"))
    return None


def report_text(facts: ReportFacts, lang: str) -> ReportText:
    """Every sentence and table of the report of ``facts`` in ``lang``."""
    ch, model, res = facts.change, facts.model, facts.result
    n_new = int(ch.get("new_count") or 0)
    figures = [(t("report.fig.new_count", lang), f"{n_new}"),
               (t("report.fig.new_ha", lang), f"{_ha(ch.get('new_ha'))} ha"),
               (t("report.fig.persisting_ha", lang), f"{_ha(ch.get('persisting_ha'))} ha"),
               (t("report.fig.vanished_ha", lang), f"{_ha(ch.get('vanished_ha'))} ha"),
               (t("report.fig.not_assessable_ha", lang), f"{_ha(ch.get('not_assessable_ha'))} ha")]
    if n_new:
        sentence = t_count("report.sentence", n_new, lang, pre=facts.pre.date_text, post=facts.post.date_text,
                           new_ha=_ha(ch.get("new_ha")))
    else:
        sentence = t("report.sentence.none", lang, pre=facts.pre.date_text, post=facts.post.date_text)
    per_date = []
    for role in ("pre", "post"):
        d = ch.get(role) or {}
        if d.get("landslide_count") is not None:
            per_date.append(t_count("report.per_date", int(d["landslide_count"]), lang,
                                    role=t(f"report.role.{role}", lang), ha=_ha(d.get("landslide_ha"))))
    top_rows = [[str(p.get("id")), _ha(p.get("area_ha")), _num(p.get("slope_deg_mean")),
                 _deg(p.get("centroid_lat"), "N", "S"), _deg(p.get("centroid_lon"), "E", "W")] for p in facts.top]
    n_top = min(len(facts.new_features), 10)
    top_title = (t("report.top.title", lang, count=n_top) if n_top > 1
                 else t("report.top.title_one", lang) if n_top == 1 else t("report.top.title_none", lang))
    top = Table(top_title,
                [t("report.top.id", lang), t("report.top.area", lang), t("report.top.slope", lang),
                 t("report.top.lat", lang), t("report.top.lon", lang)], top_rows, t("report.top.none", lang))
    scenes = Table(t("report.scenes.title", lang),
                   [t("report.scenes.role", lang), t("report.scenes.window", lang), t("report.scenes.date", lang),
                    t("report.scenes.id", lang), t("report.scenes.cloud", lang)], _scene_rows(facts, lang))
    model_lines = [(t("report.model.name", lang), str(model.get("name") or "?")),
                   (t("report.model.kind", lang), t("report.model.kind_value", lang,
                                                  architecture=str(model.get("architecture") or "?"),
                                                  bands=str(model.get("band_set") or "?"))),
                   (t("report.model.trained_on", lang), str(model.get("trained_on") or t("report.not_recorded", lang)))]
    score = _metric_line(model, lang)
    if score:
        model_lines.append((t("report.model.scores", lang), score))
    made_lines = [(t("report.made.report", lang), t("report.made.report_value", lang, when=facts.made_utc[:16]
                                                    .replace("T", " "), software=software())),
                  (t("report.made.analysis", lang), t("report.made.analysis_value", lang,
                                                      when=str(res.finished)[:16].replace("T", " "),
                                                      seconds=f"{float(res.elapsed_s or 0):.1f}")),
                  (t("report.made.source", lang), t("report.made.source_value", lang, source=facts.source_name,
                                                    cloud=_num((res.request or {}).get("cloud_limit_pct"), "{:g} %"))),
                  (t("report.made.settings", lang), t("report.made.settings_value", lang,
                                                      threshold=f"{facts.threshold:.2f}",
                                                      min_area=f"{facts.min_area_ha:g}",
                                                      pixel_m=f"{facts.pixel_size_m:g}",
                                                      crs=str(facts.crs))),
                  (t("report.made.id", lang), f"{res.key} · {res.folder}")]
    return ReportText(
        lang=lang, title=t("report.title", lang), area=facts.place.name(lang),
        dates_line=t("report.dates_line", lang, pre=facts.pre.date_text, post=facts.post.date_text),
        figures=figures, sentence=sentence, per_date=per_date, map_caption=t("report.map.caption", lang),
        top=top, chart_title=t("report.chart.title", lang), scenes=scenes,
        model_title=t("report.model.title", lang), model_lines=model_lines,
        caveats_title=t("report.caveats.title", lang), caveats=_caveats(facts, lang),
        made_title=t("report.made.title", lang), made_lines=made_lines, page_label=t("report.page", lang),
        map_caption_html=t("report.map.caption_html", lang))


__all__ = ["ReportText", "Table", "report_text"]
