"""The Models page's comparison on your region: each model's scores on the held-out reviewed chips.

The held-out share of a chips folder (its validation side, never trained on by a fine-tuning
run) scores every model side by side (F1, precision, recall, IoU at each model's own
threshold), with each fine-tuned model's parent, so a user sees whether the fine-tuned model
is better before choosing it. Scores are kept in the chips folder, so a repeat is instant.
"""
from __future__ import annotations

import streamlit as st

from .errors import show_error
from .i18n import t

CHIPS = "md_chips"
SCORES = "md_scores"  # (chips folder, rows) of the last scoring


def section(entries) -> None:
    """``entries``: the page's usable models (``ui.list_model_entries``)."""
    import pandas as pd
    import plotly.express as px

    from landslide_core.errors import UserError
    from landslide_core.review.finetune import chips_summary, held_out_scores

    from .review import LAST_CHIPS, default_chips_dir

    ss = st.session_state
    st.subheader(t("models.scores.subheader"))
    st.caption(t("models.scores.caption"))
    if CHIPS not in ss:
        ss[CHIPS] = ss.get(LAST_CHIPS) or default_chips_dir()
    folder = st.text_input(t("models.scores.folder"), key=CHIPS).strip()
    if st.button(t("models.scores.button"), key="md_score", icon=":material/leaderboard:"):
        try:
            summary = chips_summary(folder)
            with st.spinner(t("models.scores.spinner", models=len(entries), chips=summary["val"])):
                ss[SCORES] = (folder, held_out_scores(folder, [str(e.path) for e in entries]))
        except UserError as exc:
            show_error(exc)
            ss[SCORES] = None
        except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
            show_error(exc)
            ss[SCORES] = None
    scored = ss.get(SCORES)
    if not scored or scored[0] != folder:
        return
    rows = scored[1]
    ok = [r for r in rows if not r.get("error")]
    for r in rows:
        if r.get("error"):
            st.warning(f"{r['model']}: {r['error']}", icon=":material/warning:")
    if not ok:
        return
    col = {k: t(f"models.scores.col.{k}") for k in ("model", "precision", "recall", "chips", "parent")}
    df = pd.DataFrame([{col["model"]: r["model"], "F1": round(r["f1"], 3), col["precision"]: round(r["precision"], 3),
                        col["recall"]: round(r["recall"], 3), "IoU": round(r["iou"], 3), col["chips"]: r["patches"],
                        col["parent"]: r.get("parent") or ""} for r in ok]).sort_values("F1", ascending=False)
    st.dataframe(df, hide_index=True, width="stretch", key="md_scores_table")
    fig = px.bar(df, x=col["model"], y="F1", color=col["parent"], range_y=[0, 1], text="F1",
                 title=t("models.scores.chart_title"))
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    st.plotly_chart(fig, key="md_scores_chart")


def lineage_text(card) -> str:
    """A fine-tuned model's lineage in words (empty for other models)."""
    from . import ui

    lin = card.lineage or {}
    if not lin:
        return ""
    parent = (lin.get("parent") or {}).get("name") or "?"
    chips = ((lin.get("data") or {}).get("finetune") or {}).get("chips") or {}
    gen = ((lin.get("data") or {}).get("finetune") or {}).get("generated") or {}
    before, after = lin.get("before") or {}, lin.get("after") or {}
    text = f"**Fine-tuned from** {ui.escape_markdown(parent)}"
    if chips:
        text += (f" on {chips.get('train')} reviewed chips of {len(chips.get('analyses') or [])} analyses "
                 f"({ui.escape_markdown(str(chips.get('folder')))})")
    if gen.get("patches"):
        text += f" and {gen['patches']} generated patches ({gen.get('negatives')} negatives)"
    if before.get("f1") is not None and after.get("f1") is not None:
        text += (f"; F1 on {before.get('patches')} held-out chips: {before['f1']:.3f} before, "
                 f"{after['f1']:.3f} after")
    return text


__all__ = ["section", "lineage_text"]
