"""The Experiments page: a thesis grid's table (ours, the thesis's, the difference) per dataset."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import streamlit as st

from landslide_core.errors import InputError
from landslide_core.experiments.grid import GRID_FILE, MD_FILE, read_grid
from landslide_core.experiments.thesis import METRIC_TITLES, METRICS

from .errors import show_error
from .i18n import t

GRID_DIR = "ex_grid_dir"


def find_grids() -> list[Path]:
    """Grid folders under the runs root (its thesis-grid folder and any child holding grid.json)."""
    from landslide_core.training import runs

    root = runs.runs_root()
    found = []
    if (root / "thesis-grid" / GRID_FILE).is_file():
        found.append(root / "thesis-grid")
    if root.is_dir():
        found += sorted(p for p in root.iterdir() if p.is_dir() and (p / GRID_FILE).is_file() and p not in found)
    return found


def grid_picker() -> Optional[Path]:
    ss = st.session_state
    grids = [str(p) for p in find_grids()]
    typed = st.text_input(t("experiments.folder"), key="ex_folder",
                          placeholder=grids[0] if grids else "runs/thesis-grid")
    if typed.strip():
        return Path(typed.strip()).expanduser()
    if not grids:
        st.info(t("experiments.none"), icon=":material/info:")
        return None
    chosen = st.selectbox(t("experiments.found"), grids, key=GRID_DIR, format_func=lambda p: Path(p).name)
    return Path(chosen)


def _fmt(v, signed=False):
    if v is None or v != v:
        return None
    return round(float(v), 3)


def render_grid(folder: Path) -> None:
    try:
        settings, rows = read_grid(folder)
    except InputError as exc:
        show_error(exc)
        return
    st.caption(t("experiments.settings", epochs=settings.get("epochs"), batch=settings.get("batch_size"),
                 seed=settings.get("seed"), scaling=", ".join(settings.get("scalings") or [])))
    groups: dict[tuple[str, str], list] = {}
    for r in rows:
        groups.setdefault((t("experiments.group", dataset=r.dataset_label, table=r.table), r.scaling), []).append(r)
    for (title, scaling), group in groups.items():
        st.markdown(t("experiments.group_title", title=title, scaling=scaling))
        table = []
        for r in group:
            row = {t("experiments.col.bands"): r.bands, t("experiments.col.model"): r.architecture,
                   t("experiments.col.state"): r.state}
            for m in METRICS:
                title = METRIC_TITLES[m]
                row[title] = _fmt(r.metrics.get(m))
                row[t("experiments.col.thesis", metric=title)] = _fmt(r.thesis.get(m))
                row[f"{title} Δ"] = _fmt(r.difference(m))
            table.append(row)
        st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
    failed = [r for r in rows if r.state != "finished"]
    for r in failed:
        st.warning(f"{r.dataset_label}, {r.bands}, {r.architecture}: {r.state}. {r.message}",
                   icon=":material/warning:")
    md = folder / MD_FILE
    if md.is_file():
        st.download_button(t("experiments.download"), md.read_bytes(), file_name=MD_FILE, key="ex_md")
