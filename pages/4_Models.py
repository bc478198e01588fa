"""Models: every model in the models folder with its card (bands, training data, metrics)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import model_scores, state, ui
from dashboard.errors import show_error
from dashboard.i18n import t
from landslide_core.checkpoint import DEFAULT_MODEL_NAME

ui.page_setup("Models")

st.title(t("models.title"))
folder = state.models_dir()
st.caption(t("models.caption", folder=str(folder)))

entries = ui.list_model_entries(folder)
for card_path, problem in ui.unusable_models(folder):
    st.error(t("models.unusable", file=card_path.name, problem=problem), icon=":material/error:")

if not entries:
    st.info(t("models.none", folder=str(folder)))
    st.stop()


def _metric(card, key: str):
    value = (card.metrics or {}).get(key)
    return round(float(value), 3) if isinstance(value, (int, float)) else None


st.dataframe(pd.DataFrame([{
    t("models.col.model"): e.card.name + (t("models.default") if e.path.stem == DEFAULT_MODEL_NAME else ""),
    t("models.col.architecture"): e.card.architecture,
    t("models.col.bands"): e.card.band_set,
    "F1": _metric(e.card, "f1"),
    t("models.col.precision"): _metric(e.card, "precision"),
    t("models.col.recall"): _metric(e.card, "recall"),
    "IoU": _metric(e.card, "iou"),
    t("models.col.trained_on"): e.card.trained_on,
    t("models.col.run"): e.card.run_id,
    t("models.col.created"): e.card.created[:16].replace("T", " "),
} for e in entries]), hide_index=True, width="stretch")
model_scores.section(entries)  # each model's F1 on your held-out reviewed chips (dashboard/model_scores.py)

for e in entries:
    card = e.card
    with st.expander(f"{ui.escape_markdown(card.name)} · {card.architecture} · {card.band_set}", expanded=len(entries) == 1):
        cols = st.columns(5)
        for col, (label, key) in zip(cols, (("F1", "f1"), (t("models.precision"), "precision"),
                                            (t("models.recall"), "recall"), ("IoU", "iou"),
                                            (t("models.val_loss"), "val_loss"))):
            value = _metric(card, key)
            col.metric(label, "-" if value is None else f"{value:.3f}")
        st.markdown(t("models.card", scaling=card.scaling, bands=", ".join(card.bands),
                      trained_on=ui.escape_markdown(card.trained_on or t("report.not_recorded")),
                      run=ui.escape_markdown(card.run_id or "-"), threshold=card.threshold, created=card.created,
                      card_file=e.path.name, weights_file=f"{e.path.stem}.safetensors"))
        if card.notes:
            st.markdown(t("models.notes", notes=ui.escape_markdown(card.notes)))
        if card.lineage:
            st.markdown(model_scores.lineage_text(card))
        for name, score in (card.metrics or {}).items():  # further scores, e.g. on held-out data
            if isinstance(score, dict) and isinstance(score.get("f1"), (int, float)):
                st.markdown(f"**{name.replace('_', ' ')}**: F1 {score['f1']:.3f}"
                            + (f" · {ui.escape_markdown(score['data'])}" if score.get("data") else ""))
        try:
            st.json(card.to_dict(), expanded=False)
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
