"""The Training page's fine-tuning section: an existing model on your reviewed chips.

Choose the model to start from (the default or a promoted one) and the chips folder (filled
in when coming from Compare's "Fine-tune a model on these chips"); the section shows what the
chips hold (training and held-out patches). "Start fine-tuning" makes the generated mix (in
the background, with progress and Cancel) and starts the run in the run queue, where it shows
in the runs table like any run; its model card records the parent, the chips and the scores
before and after on the held-out chips.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from . import jobs
from .errors import show_error
from .i18n import t
from .job_panel import job_panel

PARENT, CHIPS, EPOCHS, LR, MIX, NEGATIVES = ("ft_parent", "ft_chips", "ft_epochs", "ft_lr", "ft_mix", "ft_negatives")
JOB = "ft_job"
OPEN = "ft_open"  # the section was opened from Compare: keep it open
#: Set by Compare's "Fine-tune a model on these chips": the chips folder to fill in.
CHIPS_PENDING = "ft_chips_pending"
#: The Training page shows this run (its folder name) in its run choice.
RUN_SELECT = "tr_run_select"


def _parents() -> dict[str, str]:
    """label -> card path of every model that can be fine-tuned (trainable), default first."""
    from landslide_core.zoo import TRAINING_FREE

    from .ui import list_model_entries

    return {f"{e.card.name} ({e.card.architecture}, {e.card.band_set})": str(e.path) for e in list_model_entries()
            if e.card.architecture not in TRAINING_FREE}


def section() -> None:
    ss = st.session_state
    pending = ss.pop(CHIPS_PENDING, None)
    if pending:
        ss[CHIPS] = pending
        ss[OPEN] = True  # stays open while its settings are changed (each change reruns the page)
    job = ss.get(JOB)
    with st.expander(t("finetune.expander"), expanded=bool(ss.get(OPEN)) or job is not None,
                     icon=":material/tune:"):
        st.markdown(t("finetune.intro"))
        parents = _parents()
        if not parents:
            st.info(t("finetune.no_parent"))
            return
        c1, c2 = st.columns([2, 3])
        c1.selectbox(t("finetune.parent"), list(parents), key=PARENT)
        if CHIPS not in ss:
            from .review import LAST_CHIPS, default_chips_dir

            ss[CHIPS] = ss.get(LAST_CHIPS) or default_chips_dir()
        c2.text_input(t("finetune.chips"), key=CHIPS, help=t("finetune.chips_help"))
        summary = _chips_summary(str(ss.get(CHIPS) or "").strip())
        m1, m2, m3, m4 = st.columns(4)
        m1.number_input(t("finetune.epochs"), min_value=1, max_value=200, value=10, key=EPOCHS)
        m2.number_input(t("finetune.lr"), min_value=1e-6, max_value=0.1, value=1e-4, step=1e-4, format="%.5f", key=LR,
                        help=t("finetune.lr_help"))
        m3.number_input(t("finetune.mix"), min_value=0.0, max_value=20.0, value=1.0, step=0.5,
                        key=MIX, help=t("finetune.mix_help"))
        m4.selectbox(t("finetune.negatives"), ["confounders", "natural"], key=NEGATIVES,
                     help=t("finetune.negatives_help"))
        busy = job is not None and job.running
        if st.button(t("finetune.start"), key="ft_start", icon=":material/rocket_launch:", type="primary",
                     disabled=busy or summary is None):
            ss[JOB] = jobs.Job(_work(parents[ss[PARENT]], str(ss[CHIPS]).strip(), int(ss[EPOCHS]), float(ss[LR]),
                                     float(ss[MIX]), str(ss[NEGATIVES])),
                               description="fine-tuning", stages=("patches",)).start()
        if ss.get(JOB) is not None:
            _panel()


def _chips_summary(folder: str):
    from landslide_core.errors import UserError
    from landslide_core.review.finetune import chips_summary

    if not folder:
        st.caption(t("finetune.give_folder"))
        return None
    try:
        s = chips_summary(folder)
    except UserError as exc:
        show_error(exc)
        return None
    st.caption(t("finetune.summary", patches=s["patches"], analyses=len(s["analyses"]), train=s["train"], val=s["val"],
                 landslide=s["landslide_patches"]))
    return s


def _work(parent: str, chips: str, epochs: int, lr: float, mix: float, negatives: str):
    def work(progress=None, cancel=None):
        from landslide_core.review.finetune import start_finetune

        return start_finetune(parent, chips, epochs=epochs, lr=lr, generated_per_chip=mix, negatives=negatives,
                              progress=progress, cancel=cancel)
    return work


def _panel() -> None:
    def select_run(job) -> None:  # the Training page shows the new run
        st.session_state[RUN_SELECT] = Path(job.result.run_dir).name

    job_panel(JOB, lambda job: t("finetune.progress", done=job.done, total=job.total, seconds=f"{job.elapsed_s:.0f}"),
              lambda job: st.success(t("finetune.started", run=Path(job.result.run_dir).name, pid=job.result.pid),
                                     icon=":material/rocket_launch:"),
              cancel=(t("monitor.cancel"), "ft_cancel"), on_end=select_run)


__all__ = ["section", "CHIPS_PENDING"]
