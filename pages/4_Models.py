"""Models: every model in the models folder with its card (bands, training data, metrics)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import state, ui
from dashboard.errors import show_error
from landslide_core.checkpoint import DEFAULT_MODEL_NAME

ui.page_setup("Models")

st.title("Models")
folder = state.models_dir()
st.caption(f"Models in `{folder}` (set LANDSLIDE_MODELS_DIR to change it). Each is a .safetensors file with "
           "its .json card. Train and promote new ones on the Training page.")

entries = ui.list_model_entries(folder)
for card_path, problem in ui.unusable_models(folder):
    st.error(f"Unusable model {card_path.name}: {problem}", icon=":material/error:")

if not entries:
    st.info(f"No model in {folder} yet. Train one on the Training page and promote it.")
    st.stop()


def _metric(card, key: str):
    value = (card.metrics or {}).get(key)
    return round(float(value), 3) if isinstance(value, (int, float)) else None


st.dataframe(pd.DataFrame([{
    "model": e.card.name + (" (default)" if e.path.stem == DEFAULT_MODEL_NAME else ""),
    "architecture": e.card.architecture,
    "bands": e.card.band_set,
    "F1": _metric(e.card, "f1"),
    "precision": _metric(e.card, "precision"),
    "recall": _metric(e.card, "recall"),
    "IoU": _metric(e.card, "iou"),
    "trained on": e.card.trained_on,
    "run": e.card.run_id,
    "created": e.card.created[:16].replace("T", " "),
} for e in entries]), hide_index=True, width="stretch")

for e in entries:
    card = e.card
    with st.expander(f"{ui.escape_markdown(card.name)} · {card.architecture} · {card.band_set}", expanded=len(entries) == 1):
        cols = st.columns(5)
        for col, (label, key) in zip(cols, (("F1", "f1"), ("Precision", "precision"), ("Recall", "recall"),
                                            ("IoU", "iou"), ("Val loss", "val_loss"))):
            value = _metric(card, key)
            col.metric(label, "-" if value is None else f"{value:.3f}")
        st.markdown(f"**Bands** ({card.scaling} scaling): {', '.join(card.bands)}  \n"
                    f"**Trained on**: {ui.escape_markdown(card.trained_on or 'not recorded')}  \n"
                    f"**Run**: {ui.escape_markdown(card.run_id or '-')} · **threshold** {card.threshold} · "
                    f"**created** {card.created} · **files**: {e.path.name}, {e.path.stem}.safetensors")
        if card.notes:
            st.markdown(f"**Notes**: {ui.escape_markdown(card.notes)}")
        for name, score in (card.metrics or {}).items():  # further scores, e.g. on held-out data
            if isinstance(score, dict) and isinstance(score.get("f1"), (int, float)):
                st.markdown(f"**{name.replace('_', ' ')}**: F1 {score['f1']:.3f}"
                            + (f" · {ui.escape_markdown(score['data'])}" if score.get("data") else ""))
        try:
            st.json(card.to_dict(), expanded=False)
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
