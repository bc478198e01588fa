"""A dataset under construction: its settings, its ROIs, their scenes and labels, in one folder.

Layout::

    DIR/dataset.json                 the settings (DatasetSpec): source, date windows, cloud limit, ROI size
    DIR/rois.json                    the ROIs in the order they were added
    DIR/rois/<id>/post.tif           the scene to label (scene GeoTIFF on the ROI's grid, with provenance)
    DIR/rois/<id>/pre.tif            the pre-event scene, when the dataset has a pre window
    DIR/rois/<id>/fetch.json         where the scenes came from (or why fetching failed)
    DIR/rois/<id>/label.json         the label (landslide polygons, status, flags, labeller)
    DIR/rois/<id>/suggestions/<m>/   a model's suggestion (the detection outputs)

Every file is written to a temporary name and renamed into place; ``rois.json`` is changed
under a lock, so the page and the command line can work on one dataset at once.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import InputError
from ..fileio import atomic_write_text, exclusive_lock
from ..sources.request import COMPOSITES, AnalysisRequest, DateWindow
from .labels import RoiLabel, now_iso
from .rois import DEFAULT_ROI_SIZE_M, Roi, check_roi_size

DATASET_FILE = "dataset.json"
ROIS_FILE = "rois.json"
ROIS_DIR = "rois"
LABEL_FILE = "label.json"
FETCH_FILE = "fetch.json"
SCENE_FILES = {"post": "post.tif", "pre": "pre.tif"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.()-]{0,79}$")
_ID_RE = re.compile(r"^\d{2}[NS]-\d+-\d+$")


def datasets_root() -> Path:
    """Where the dashboard keeps datasets: env LANDSLIDE_DATASETS_DIR, else <data folder>/datasets."""
    import os

    from ..watch.config import default_data_dir

    env = os.environ.get("LANDSLIDE_DATASETS_DIR")
    return Path(env).expanduser() if env else default_data_dir() / "datasets"


def check_name(name: Any) -> str:
    text = str(name or "").strip()
    if not _NAME_RE.match(text):
        raise InputError(f"The dataset name {text[:40]!r} is not usable.",
                         "Use 1-80 letters, digits, spaces, dots, dashes or underscores, starting with a letter "
                         "or digit (e.g. L4S-PE Junin 2023).")
    return text


@dataclass
class DatasetSpec:
    """What a dataset is made of: the imagery source and its options, the date window of the
    scenes to label (and of the pre-event scenes, optional), the cloud limit and the ROI size."""

    name: str
    source: str = "demo"
    window: tuple[str, str] = ("", "")
    pre_window: Optional[tuple[str, str]] = None
    cloud_limit_pct: float = 30.0
    composite: str = "least_cloudy"
    roi_size_m: float = DEFAULT_ROI_SIZE_M
    source_options: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=now_iso)
    notes: str = ""

    def validate(self, today: Optional[dt.date] = None) -> "DatasetSpec":
        from ..sources import source_class

        self.name = check_name(self.name)
        source_class(self.source)
        self.roi_size_m = check_roi_size(self.roi_size_m)
        post = DateWindow.parse(*self.window, label="date window of the scenes to label")
        post.validate("date window of the scenes to label", today)
        self.window = post.to_json()
        if self.pre_window and any(self.pre_window):
            pre = DateWindow.parse(*self.pre_window, label="pre-event window")
            pre.validate("pre-event window", today)
            if pre.end >= post.start:
                raise InputError(f"The pre-event window ends {pre.end}, not before the window of the scenes to label "
                                 f"starts ({post.start}).", "Move the pre-event window earlier.")
            self.pre_window = pre.to_json()
        else:
            self.pre_window = None
        try:
            cloud = float(self.cloud_limit_pct)
        except (TypeError, ValueError):
            cloud = float("nan")
        if not 0.0 <= cloud <= 100.0:
            raise InputError(f"The cloud limit {self.cloud_limit_pct} is outside 0-100 %.", "Use e.g. 30.")
        self.cloud_limit_pct = cloud
        if self.composite not in COMPOSITES:
            raise InputError(f"Unknown composite {self.composite!r}.", f"Use one of: {', '.join(COMPOSITES)}.")
        if not isinstance(self.source_options, dict):
            raise InputError("The source options must be a JSON object.")
        return self

    def request_for(self, roi: Roi) -> AnalysisRequest:
        """The analysis request that fetches an ROI's scenes. Without a pre-event window, the 30
        days before the window stand in for it (only the scene to label is fetched; a source
        that picks its dates as a pair, such as the demo, finds passes there)."""
        post = DateWindow.parse(*self.window)
        if self.pre_window:
            pre = DateWindow.parse(*self.pre_window)
        else:
            pre = DateWindow(post.start - dt.timedelta(days=30), post.start - dt.timedelta(days=1))
        return AnalysisRequest(roi.footprint(), pre, post, self.cloud_limit_pct, self.composite)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["window"] = list(self.window)
        d["pre_window"] = list(self.pre_window) if self.pre_window else None
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DatasetSpec":
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in names}
        if "window" in values:
            values["window"] = tuple(values["window"])
        if values.get("pre_window"):
            values["pre_window"] = tuple(values["pre_window"])
        return cls(**values)


@dataclass
class AddResult:
    added: list[Roi]
    already: list[Roi]


class DatasetStore:
    """One dataset folder (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        path = self.root / DATASET_FILE
        if not path.is_file():
            raise InputError(f"{self.root} is not a dataset (no {DATASET_FILE}).",
                             "Create one first: python -m landslide_core dataset create DIR ...")
        try:
            self.spec = DatasetSpec.from_json(json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise InputError(f"{path} is damaged ({exc}).", "Restore it, or create the dataset again.") from None

    @classmethod
    def create(cls, root: str | Path, spec: DatasetSpec) -> "DatasetStore":
        """A new dataset folder (refused where one exists, or where the folder holds other files)."""
        root = Path(root).expanduser()
        spec.validate()
        if (root / DATASET_FILE).exists():
            raise InputError(f"{root} already holds a dataset.", "Open it, or choose a new folder.")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise InputError(f"{root} exists and is not an empty folder.", "Choose a new or empty folder.")
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(root / ROIS_FILE, "[]")
        atomic_write_text(root / DATASET_FILE, json.dumps(spec.to_json(), indent=2))
        return cls(root)

    # ---------------------------------------------------------------- ROIs
    def _lock(self):
        return exclusive_lock(self.root / ".lock", timeout_s=30)

    def rois(self) -> list[Roi]:
        try:
            data = json.loads((self.root / ROIS_FILE).read_text())
        except FileNotFoundError:
            return []
        except ValueError as exc:
            raise InputError(f"{self.root / ROIS_FILE} is damaged ({exc}).", "Restore it from a backup.") from None
        return [Roi.from_json(r) for r in data]

    def roi_ids(self) -> list[str]:
        try:
            return [r["id"] for r in json.loads((self.root / ROIS_FILE).read_text())]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return [r.id for r in self.rois()]

    def roi(self, roi_id: str) -> Roi:
        try:
            records = json.loads((self.root / ROIS_FILE).read_text())
        except (FileNotFoundError, ValueError):
            records = []
        for r in records:
            if isinstance(r, dict) and r.get("id") == roi_id:
                return Roi.from_json(r)
        raise InputError(f"The dataset has no ROI {roi_id!r}.", "List them with: dataset status DIR.")

    def add_rois(self, rois: list[Roi]) -> AddResult:
        """Add ROIs of the dataset's size (each re-made at that size); ones already there are kept."""
        size = self.spec.roi_size_m
        with self._lock():
            current = self.rois()
            have = {r.id for r in current}
            added, already = [], []
            for r in rois:
                r = Roi(r.lon, r.lat, size, r.origin, r.properties) if r.size_m != size else r
                (already if r.id in have else added).append(r)
                have.add(r.id)
            if added:
                atomic_write_text(self.root / ROIS_FILE,
                                  json.dumps([r.to_json() for r in current + added], indent=1))
        return AddResult(added, already)

    def remove_roi(self, roi_id: str) -> None:
        import shutil

        with self._lock():
            current = [r for r in self.rois() if r.id != roi_id]
            atomic_write_text(self.root / ROIS_FILE, json.dumps([r.to_json() for r in current], indent=1))
        shutil.rmtree(self.roi_dir(roi_id), ignore_errors=True)

    # ---------------------------------------------------------------- files per ROI
    def roi_dir(self, roi_id: str) -> Path:
        if not _ID_RE.match(str(roi_id)):
            raise InputError(f"{roi_id!r} is not an ROI id.", "ROI ids look like 18S-455250-8751270.")
        return self.root / ROIS_DIR / roi_id

    def scene_path(self, roi_id: str, role: str = "post") -> Path:
        return self.roi_dir(roi_id) / SCENE_FILES[role]

    def has_scene(self, roi_id: str, role: str = "post") -> bool:
        return self.scene_path(roi_id, role).is_file()

    def fetch_record(self, roi_id: str) -> dict[str, Any]:
        path = self.roi_dir(roi_id) / FETCH_FILE
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def write_fetch_record(self, roi_id: str, record: dict[str, Any]) -> None:
        folder = self.roi_dir(roi_id)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / FETCH_FILE, json.dumps(record, indent=2, default=str))

    def label(self, roi_id: str) -> RoiLabel:
        path = self.roi_dir(roi_id) / LABEL_FILE
        try:
            return RoiLabel.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return RoiLabel(roi_id)
        except ValueError as exc:
            raise InputError(f"The label {path} is damaged ({exc}).", "Label the ROI again.") from None

    def save_label(self, label: RoiLabel) -> RoiLabel:
        folder = self.roi_dir(label.roi_id)
        folder.mkdir(parents=True, exist_ok=True)
        label.updated = now_iso()
        atomic_write_text(folder / LABEL_FILE, json.dumps(label.to_json(), indent=1))
        return label

    # ---------------------------------------------------------------- overview
    def summary(self) -> dict[str, Any]:
        """Counts: ROIs, with imagery, fetch failures, by status, flagged, ready to export."""
        ids = self.roi_ids()
        counts = {"rois": len(ids), "with_imagery": 0, "fetch_failed": 0, "todo": 0, "labelled": 0,
                  "skipped": 0, "flagged": 0, "exportable": 0}
        for roi_id in ids:
            has = self.has_scene(roi_id)
            counts["with_imagery"] += has
            if not has and self.fetch_record(roi_id).get("error"):
                counts["fetch_failed"] += 1
            lab = self.label(roi_id)
            counts[lab.status] += 1
            counts["flagged"] += bool(lab.flags)
            counts["exportable"] += has and lab.excluded_reason is None
        return counts


def list_datasets(root: Optional[Path] = None) -> list[Path]:
    """Dataset folders directly under ``root`` (default :func:`datasets_root`), by name."""
    root = Path(root) if root else datasets_root()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / DATASET_FILE).is_file())
