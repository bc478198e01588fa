"""The thesis's grid in one command: train every architecture x band set x dataset, tabulate.

Each cell of the grid is an ordinary training run (:func:`landslide_core.training.train`): it
takes the device through the run queue (waiting behind any other run on that device), writes
its run folder under the runs root (so the Training page lists it), and is resumed, not
redone, when the grid is started again with the same settings (a finished run is reused as
it is). The combined dataset (L4S + L4S-PE) is merged once into the grid folder, each source
keeping its own split. The results are the best epoch's validation scores of each run, beside
the thesis's own figures and the difference:

    OUT/thesis_grid.csv     one row per run (ours, thesis, difference per metric)
    OUT/thesis_grid.md      Markdown tables in the layout of Tables 6 and 7
    OUT/grid.json           the settings and the rows (what the Experiments page shows)
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import Cancelled, InputError, UserError
from ..fileio import atomic_write_text, ensure_writable_folder
from ..progress import CancelToken, ProgressFn, check_cancel
from . import thesis

CSV_FILE = "thesis_grid.csv"
MD_FILE = "thesis_grid.md"
GRID_FILE = "grid.json"
MERGED_DIR = "data-l4s+l4spe"


@dataclass
class GridSettings:
    """What the grid trains with: the thesis recipe unless changed."""

    data: str
    data_extra: Optional[str] = None
    epochs: int = thesis.RECIPE["epochs"]
    scalings: tuple[str, ...] = ("minmax",)
    batch_size: int = thesis.RECIPE["batch_size"]
    seed: int = 0
    device: str = "auto"
    workers: int = 2
    arch_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: prefix of the run folders' names (default: the grid folder's name)
    name: str = ""

    def validate(self) -> "GridSettings":
        from ..bands import BAND_SETS, SCALINGS
        from ..zoo import check_arch_options

        for path, opt in ((self.data, "--data"), (self.data_extra, "--data-extra")):
            if path is not None and not Path(path).expanduser().is_dir():
                raise InputError(f"{opt} {path} is not a folder.", "Give a Landslide4Sense folder (img/ and mask/).")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise InputError(f"--epochs {self.epochs!r} is not a whole number >= 1.")
        if not self.scalings or any(s not in SCALINGS for s in self.scalings):
            raise InputError(f"Unknown scaling in {list(self.scalings)}.", f"Use {', '.join(SCALINGS)} or both.")
        known = set(thesis.ARCHITECTURES) | set(thesis.ARCHITECTURES.values())
        unknown = [k for k in self.arch_options if k not in known]
        if unknown:
            raise InputError(f"--arch-options names architectures outside the grid: {', '.join(unknown)}.",
                             f"Use: {', '.join(thesis.ARCHITECTURES.values())}.")
        for name, zoo in thesis.ARCHITECTURES.items():
            for band_set in thesis.BAND_SETS.values():
                bands = BAND_SETS[band_set]
                check_arch_options(zoo, len(bands), self.options_for(name), bands)
        return self

    def options_for(self, thesis_name: str) -> dict[str, Any]:
        zoo = thesis.ARCHITECTURES[thesis_name]
        return dict(self.arch_options.get(zoo) or self.arch_options.get(thesis_name) or {})


@dataclass
class GridRow:
    """One cell of the grid: what was trained, how it ended, its scores and the thesis's."""

    dataset: str
    dataset_label: str
    table: str
    bands: str
    band_set: str
    architecture: str
    arch: str
    scaling: str
    run_dir: str = ""
    state: str = "not run"
    epochs_done: int = 0
    best_epoch: Optional[int] = None
    metrics: dict[str, Optional[float]] = field(default_factory=dict)
    thesis: dict[str, float] = field(default_factory=dict)
    message: str = ""

    @property
    def key(self) -> str:
        return f"{self.dataset}-{self.band_set}-{self.arch}-{self.scaling}"

    def difference(self, metric: str) -> Optional[float]:
        ours, theirs = self.metrics.get(metric), self.thesis.get(metric)
        if ours is None or theirs is None or not math.isfinite(ours):
            return None
        return ours - theirs


def plan_rows(settings: GridSettings) -> list[GridRow]:
    """The grid's cells in the thesis's order: dataset, then band set, then architecture."""
    datasets = ["l4s"] + (["l4s+l4spe"] if settings.data_extra else [])
    rows = []
    for ds in datasets:
        label, table = thesis.DATASETS[ds]
        for scaling in settings.scalings:
            for bands_label, band_set in thesis.BAND_SETS.items():
                for name, zoo in thesis.ARCHITECTURES.items():
                    rows.append(GridRow(ds, label, table, bands_label, band_set, name, zoo, scaling,
                                        thesis=dict(thesis.THESIS_FIGURES[ds][(bands_label, name)])))
    return rows


def _data_for(settings: GridSettings, dataset: str, out: Path, progress: Optional[ProgressFn],
              cancel: Optional[CancelToken]) -> str:
    if dataset == "l4s":
        return str(Path(settings.data).expanduser().resolve())
    merged = out / MERGED_DIR
    sources = [str(Path(settings.data).expanduser().resolve()), str(Path(settings.data_extra).expanduser().resolve())]
    manifest = merged / "manifest.json"
    if manifest.is_file():
        try:
            done = [s["folder"] for s in json.loads(manifest.read_text()).get("merged_from", [])]
        except (ValueError, KeyError, TypeError):
            done = []
        if done == sources:
            return str(merged)
        raise InputError(f"{merged} holds a merge of other datasets ({', '.join(done) or 'unreadable'}).",
                         "Use another --out folder for these datasets.")
    from ..patches import merge_datasets

    merge_datasets(sources, merged, ["L4S", "L4S-PE"], thesis.RECIPE["val_share"], settings.seed, progress, cancel)
    return str(merged)


def _config(settings: GridSettings, row: GridRow, data_dir: str):
    from ..training import TrainConfig

    recipe = {k: v for k, v in thesis.RECIPE.items() if k not in ("epochs", "batch_size", "scaling")}
    return TrainConfig(data_dir=data_dir, arch=row.arch, bands=row.band_set, epochs=settings.epochs,
                       batch_size=settings.batch_size, seed=settings.seed, device=settings.device,
                       workers=settings.workers, arch_kwargs=settings.options_for(row.architecture),
                       scaling=row.scaling, **recipe).validate()


def _fill_from_run(row: GridRow, run_dir: Path) -> None:
    from ..training import runs

    metrics = runs.read_metrics(run_dir)
    status = runs.current_status(run_dir)
    row.run_dir = str(run_dir)
    row.state = status.state if status else ("finished" if metrics else "not run")
    row.epochs_done = len(metrics)
    if status and status.error:
        row.message = status.error
    if metrics:
        best = min(metrics, key=lambda r: r.get("val_loss", float("inf")))
        row.best_epoch = int(best["epoch"])
        row.metrics = {"f1": best.get("val_f1"), "precision": best.get("val_precision"),
                       "recall": best.get("val_recall"), "iou": best.get("val_iou"),
                       "dice_wce": best.get("val_loss"), "wce": best.get("val_wce"), "dice": best.get("val_dice")}


def run_grid(settings: GridSettings, out_dir: str | Path, runs_root: Optional[str | Path] = None,
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> list[GridRow]:
    """Train (or reuse) every run of the grid, then write the tables; return the rows.

    A run that fails is reported in its row and the others go on; a cancel stops the running
    run (its last epoch is kept, so starting the grid again resumes it) and writes what is done.
    """
    from ..training import runs as runs_mod
    from ..training.trainer import train

    settings.validate()
    out = ensure_writable_folder(out_dir, "--out")
    root = Path(runs_root) if runs_root else runs_mod.runs_root()
    prefix = settings.name or out.resolve().name
    rows = plan_rows(settings)
    data_dirs: dict[str, str] = {}
    try:
        for k, row in enumerate(rows):
            check_cancel(cancel)
            run_dir = root / f"{prefix}-{row.key}"
            stage = f"run {k + 1}/{len(rows)}: {row.dataset_label}, {row.bands}, {row.architecture}"
            if row.dataset not in data_dirs:
                data_dirs[row.dataset] = _data_for(settings, row.dataset, out, progress, cancel)
            config = _config(settings, row, data_dirs[row.dataset])
            old = runs_mod.read_config(run_dir) if (run_dir / runs_mod.CONFIG_FILE).exists() else None
            status = runs_mod.current_status(run_dir) if old else None
            if old is not None and not old.differences(config) and status and status.state == "finished":
                _fill_from_run(row, run_dir)
                row.message = "reused: finished earlier with the same settings"
                if progress:
                    progress(k + 1, len(rows), f"{stage} (reused)")
                continue
            if old is not None and old.differences(config):
                raise InputError(f"The run folder {run_dir} holds a run with other settings "
                                 f"({'; '.join(old.differences(config)[:3])}).",
                                 "Start the grid with another --out (its name prefixes the run folders), "
                                 "or delete those run folders.")
            try:
                train(config, run_dir, progress=(lambda d, t, s, st=stage: progress(d, t, f"{st}: {s}"))
                      if progress else None, cancel=cancel)
            except Cancelled:
                raise
            except UserError as exc:
                row.message = str(exc)
            _fill_from_run(row, run_dir)
            if cancel is not None and cancel.cancelled:
                raise Cancelled("The grid was stopped; start it again with the same settings to resume.")
    finally:
        write_tables(rows, out, settings)
    return rows


# ---------------------------------------------------------------- tables


def _fmt(v: Optional[float], signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:+.3f}" if signed else f"{v:.3f}"


def csv_rows(rows: list[GridRow]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        d: dict[str, Any] = {"dataset": r.dataset_label, "table": r.table, "bands": r.bands, "band_set": r.band_set,
                             "architecture": r.architecture, "zoo_arch": r.arch, "scaling": r.scaling,
                             "state": r.state, "epochs_done": r.epochs_done, "best_epoch": r.best_epoch}
        for m in thesis.METRICS:
            v = r.metrics.get(m)
            d[m] = None if v is None else round(float(v), 6)
            d[f"thesis_{m}"] = r.thesis.get(m)
            diff = r.difference(m)
            d[f"diff_{m}"] = None if diff is None else round(diff, 6)
        d["run_dir"] = r.run_dir
        d["message"] = r.message
        out.append(d)
    return out


def markdown(rows: list[GridRow], settings: Optional[GridSettings] = None) -> str:
    """Tables in the layout of the thesis's Tables 6 and 7: ours, the thesis's, the difference."""
    lines = ["# The thesis's experiment grid, re-run", ""]
    if settings is not None:
        lines += [f"Epochs: {settings.epochs} (the thesis: up to 100 with early stopping); batch size "
                  f"{settings.batch_size}; seed {settings.seed}; scaling {', '.join(settings.scalings)}. "
                  "Scores: the validation set at each run's best epoch (lowest Dice-WCE). "
                  "Columns: ours, the thesis's figure, ours minus the thesis's.", ""]
    groups: dict[tuple[str, str], list[GridRow]] = {}
    for r in rows:
        groups.setdefault((r.dataset, r.scaling), []).append(r)
    header = "| Bands | Model | " + " | ".join(f"{thesis.METRIC_TITLES[m]} | thesis | Δ" for m in thesis.METRICS) + " |"
    rule = "|---|---|" + "---:|---:|---:|" * len(thesis.METRICS)
    for (ds, scaling), group in groups.items():
        label, table = thesis.DATASETS[ds]
        lines += [f"## {label} (thesis {table}); scaling {scaling}", "", header, rule]
        shown = None
        for r in group:
            cells = [r.bands if r.bands != shown else "", r.architecture + ("" if r.state == "finished" else
                                                                              f" ({r.state})")]
            shown = r.bands
            for m in thesis.METRICS:
                cells += [_fmt(r.metrics.get(m)), _fmt(r.thesis.get(m)), _fmt(r.difference(m), True)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_tables(rows: list[GridRow], out: Path, settings: Optional[GridSettings] = None) -> tuple[Path, Path]:
    data = csv_rows(rows)
    path = out / CSV_FILE
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(data[0]) if data else ["dataset"])
        w.writeheader()
        w.writerows(data)
    tmp.replace(path)
    atomic_write_text(out / MD_FILE, markdown(rows, settings))
    grid = {"settings": asdict(settings) if settings else {}, "rows": [asdict(r) for r in rows]}
    atomic_write_text(out / GRID_FILE, json.dumps(grid, indent=1, default=str))
    return path, out / MD_FILE


def read_grid(out: str | Path) -> tuple[dict[str, Any], list[GridRow]]:
    """A grid folder's settings and rows (for the page), or a clear error."""
    path = Path(out) / GRID_FILE
    try:
        data = json.loads(path.read_text())
        rows = [GridRow(**r) for r in data.get("rows", [])]
    except FileNotFoundError:
        raise InputError(f"{out} holds no thesis grid ({GRID_FILE}).",
                         "Run: python -m landslide_core experiment thesis-grid --data DIR --out FOLDER") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path} is damaged ({exc}).", "Run the grid again.") from None
    return data.get("settings", {}), rows
