"""The Training page's parts: recipes that fit the machine, practice data, the live runs table.

- Recipes: on a computer without a CUDA GPU the page starts with a quick recipe (the
  thesis' U-Net at an eighth of its width, 10 epochs: minutes on a laptop, a 1 MB model);
  with a GPU, the thesis recipe (full width, up to 100 epochs).
- Practice data: synthetic Landslide4Sense-layout patches made from the page (what
  ``python -m landslide_core generate l4s`` makes), in the background with progress and Cancel;
  the data folder then points at them.
- The runs table refreshes itself while a run is queued or running, so its states are current.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import streamlit as st

from landslide_core.training import runs

from . import jobs
from .i18n import t
from .job_panel import job_panel

REFRESH_S = 3.0
#: A run's states (their words: train.state.<state>).
RUN_STATES = runs.STATES

# --- widget keys of the page (kept here so presets can fill them) ---
PRESET, DATA, ARCH, EPOCHS, BATCH, PATIENCE, ARCH_KWARGS = (
    "tr_preset", "tr_data", "tr_arch", "tr_epochs", "tr_batch", "tr_patience", "tr_arch_kwargs")
PRACTICE_JOB = "tr_practice_job"
PRACTICE_DIR, PRACTICE_PATCHES, PRACTICE_SEED = "tr_practice_dir", "tr_practice_patches", "tr_practice_seed"
DATA_PENDING = "tr_data_pending"  # a data folder to put in the field on the next run


@dataclass(frozen=True)
class Recipe:
    """A recipe; its label and note are the catalogue's train.recipe.<key> and .<key>_note."""

    label: str
    arch: str
    arch_kwargs: str
    epochs: int
    batch_size: int
    patience: int
    note: str


RECIPES: dict[str, Recipe] = {
    "quick": Recipe("Quick, for this computer's CPU", "unet_vanilla", '{"base_channels": 8}', 10, 16, 4,
                    "The thesis' U-Net at an eighth of its width (about 0.5 M parameters, a 1 MB model), "
                    "10 epochs at most: a few minutes for 200 patches on two CPU cores. The shipped "
                    "default model is this size."),
    "thesis": Recipe("Thesis recipe (needs a GPU)", "unet_vanilla", "", 100, 16, 10,
                     "The full-width U-Net of the thesis (31 M parameters, a 124 MB model), up to 100 epochs "
                     "with early stopping: hours on a CPU, minutes on a GPU."),
}


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - no torch CUDA: CPU
        return False


def default_recipe() -> str:
    return "thesis" if cuda_available() else "quick"


def apply_recipe(name: Optional[str] = None) -> None:
    """Put a recipe's values in the settings (also the preset radio's callback)."""
    ss = st.session_state
    recipe = RECIPES[name or ss.get(PRESET) or default_recipe()]
    ss[ARCH], ss[ARCH_KWARGS] = recipe.arch, recipe.arch_kwargs
    ss[EPOCHS], ss[BATCH], ss[PATIENCE] = recipe.epochs, recipe.batch_size, recipe.patience


def recipe_picker() -> None:
    """The recipe choice, before the settings it fills; the first visit takes the machine's."""
    ss = st.session_state
    if PRESET not in ss or any(k not in ss for k in (ARCH, ARCH_KWARGS, EPOCHS, BATCH, PATIENCE)):
        ss[PRESET] = ss.get(PRESET) or default_recipe()
        apply_recipe(ss[PRESET])
    if ss.get(DATA_PENDING):
        ss[DATA] = ss.pop(DATA_PENDING)
    st.radio(t("train.recipe_label"), list(RECIPES), key=PRESET, horizontal=True, on_change=apply_recipe,
             format_func=lambda k: t(f"train.recipe.{k}"), help=t("train.recipe_help"))
    gpu = t("train.gpu") if cuda_available() else t("train.no_gpu")
    st.caption(f"{t('train.recipe.' + ss[PRESET] + '_note')} ({gpu}.)")


# ---------------------------------------------------------------- practice data

def _free_folder(base: Path) -> Path:
    path, k = base, 1
    while path.exists() and any(path.iterdir()):
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def practice_data() -> None:
    """Make synthetic practice data from the page (``generate l4s``), then use it."""
    ss = st.session_state
    job = ss.get(PRACTICE_JOB)
    with st.expander(t("train.practice"), expanded=job is not None):
        st.markdown(t("train.practice_text"))
        if PRACTICE_DIR not in ss:
            ss[PRACTICE_DIR] = str(_free_folder(runs.runs_root().expanduser().resolve().parent / "practice-data"))
        c1, c2, c3 = st.columns([3, 1, 1])
        c1.text_input(t("train.practice_folder"), key=PRACTICE_DIR)
        c2.number_input(t("train.practice_patches"), min_value=8, max_value=5000, value=200, step=50,
                        key=PRACTICE_PATCHES, help=t("train.practice_patches_help"))
        c3.number_input(t("train.practice_seed"), min_value=0, max_value=2**31 - 1, value=0, key=PRACTICE_SEED)
        busy = job is not None and job.running
        if st.button(t("train.practice_make"), key="tr_practice_make", icon=":material/auto_awesome:", disabled=busy):
            folder = Path(str(ss[PRACTICE_DIR]).strip()).expanduser()
            if not str(ss[PRACTICE_DIR]).strip():
                st.error(t("train.practice_no_folder"), icon=":material/error:")
            else:
                ss[PRACTICE_JOB] = jobs.Job(_practice_work(folder, int(ss[PRACTICE_PATCHES]), int(ss[PRACTICE_SEED])),
                                            description=str(folder), stages=("patches",)).start()
                job = ss[PRACTICE_JOB]
        if job is not None:
            _practice_panel()


def _practice_work(folder: Path, patches: int, seed: int):
    def work(progress=None, cancel=None):
        from landslide_core.synthetic import write_l4s_dataset

        return write_l4s_dataset(folder, patches, seed=seed, progress=progress, cancel=cancel)
    return work


def _practice_panel() -> None:
    def fill_in_folder(job) -> None:  # the data folder field takes the new folder
        st.session_state[DATA_PENDING] = str(job.result)

    job_panel(PRACTICE_JOB,
              lambda job: t("train.practice_progress", done=job.done, total=job.total, seconds=f"{job.elapsed_s:.0f}"),
              lambda job: st.success(t("train.practice_done", count=job.total, folder=str(job.result),
                                       seconds=f"{job.elapsed_s:.0f}"), icon=":material/check_circle:"),
              cancel=(t("monitor.cancel"), "tr_practice_cancel"), on_end=fill_in_folder)


# ---------------------------------------------------------------- runs table

def runs_table(any_active: bool) -> None:
    """Every run with its state; refreshes itself every few seconds while a run is active."""

    @st.fragment(run_every=REFRESH_S if any_active else None)
    def table() -> None:
        import pandas as pd

        infos = runs.list_runs()
        if infos:
            rows = [i.row() for i in infos]
            for r in rows:
                if r.get("state") in RUN_STATES:
                    r["state"] = t(f"train.state.{r['state']}")
            st.dataframe(pd.DataFrame(rows).rename(columns=lambda c: t(f"train.col.{c}")), hide_index=True,
                         width="stretch", key="tr_runs_table")

    table()
