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
from .errors import show_error

REFRESH_S = 3.0

# --- widget keys of the page (kept here so presets can fill them) ---
PRESET, DATA, ARCH, EPOCHS, BATCH, PATIENCE, ARCH_KWARGS = (
    "tr_preset", "tr_data", "tr_arch", "tr_epochs", "tr_batch", "tr_patience", "tr_arch_kwargs")
PRACTICE_JOB = "tr_practice_job"
PRACTICE_DIR, PRACTICE_PATCHES, PRACTICE_SEED = "tr_practice_dir", "tr_practice_patches", "tr_practice_seed"
DATA_PENDING = "tr_data_pending"  # a data folder to put in the field on the next run


@dataclass(frozen=True)
class Recipe:
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
    st.radio("Recipe", list(RECIPES), key=PRESET, horizontal=True, on_change=apply_recipe,
             format_func=lambda k: RECIPES[k].label,
             help="Fills the architecture, its width, the epochs, batch size and patience; change any of them "
                  "below afterwards.")
    gpu = "a CUDA GPU is available" if cuda_available() else "no CUDA GPU here: training runs on the CPU"
    st.caption(f"{RECIPES[ss[PRESET]].note} ({gpu}.)")


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
    with st.expander("No data yet? Make practice data", expanded=job is not None):
        st.markdown("Synthetic Landslide4Sense-layout patches (128 x 128 px, 14 bands, about 2 % landslide "
                    "pixels) cut from the project's synthetic Sentinel-2 world: enough to try the whole flow. "
                    "A model trained on them has never seen real imagery.")
        if PRACTICE_DIR not in ss:
            ss[PRACTICE_DIR] = str(_free_folder(runs.runs_root().expanduser().resolve().parent / "practice-data"))
        c1, c2, c3 = st.columns([3, 1, 1])
        c1.text_input("Folder for the patches (new or empty)", key=PRACTICE_DIR)
        c2.number_input("Patches", min_value=8, max_value=5000, value=200, step=50, key=PRACTICE_PATCHES,
                        help="200 take about half a minute on two CPU cores.")
        c3.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, key=PRACTICE_SEED)
        busy = job is not None and job.running
        if st.button("Make practice data", key="tr_practice_make", icon=":material/auto_awesome:", disabled=busy):
            folder = Path(str(ss[PRACTICE_DIR]).strip()).expanduser()
            if not str(ss[PRACTICE_DIR]).strip():
                st.error("Give a folder for the patches.", icon=":material/error:")
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
    job = st.session_state.get(PRACTICE_JOB)

    @st.fragment(run_every=0.5 if job is not None and job.running else None)
    def panel() -> None:
        ss = st.session_state
        current = ss.get(PRACTICE_JOB)
        if current is None:
            return
        if current.running:
            st.progress(current.fraction(), text=f"Making patches: {current.done} of {current.total} "
                                                  f"({current.elapsed_s:.0f} s)")
            if st.button("Cancel", key="tr_practice_cancel", icon=":material/cancel:"):
                current.cancel()
                st.rerun()
            return
        if not current.shown:
            current.shown = True
            if current.error is None:
                ss[DATA_PENDING] = str(current.result)
            st.rerun()  # the whole page: the data folder field takes the new folder
        if current.error is not None:
            show_error(current.error)
        else:
            st.success(f"Made {current.total} practice patches in `{current.result}` in {current.elapsed_s:.0f} s; "
                       "the data folder above now points at them.", icon=":material/check_circle:")

    panel()


# ---------------------------------------------------------------- runs table

def runs_table(any_active: bool) -> None:
    """Every run with its state; refreshes itself every few seconds while a run is active."""

    @st.fragment(run_every=REFRESH_S if any_active else None)
    def table() -> None:
        import pandas as pd

        infos = runs.list_runs()
        if infos:
            st.dataframe(pd.DataFrame([i.row() for i in infos]), hide_index=True, width="stretch",
                         key="tr_runs_table")

    table()
