"""Building a dataset of one's own (the thesis's L4S-PE): ROIs, imagery, assisted labels, export.

- :mod:`.rois`: regions of interest from an inventory (points, polygons, CSV), a drawing or
  random sampling; each a square (default 1500 m) on its own UTM zone's 10 m grid;
- :mod:`.store`: the dataset folder (settings, ROIs, scenes, labels);
- :mod:`.imagery`: each ROI's scenes through the usual sources and cache, onto its grid;
- :mod:`.suggest`: a model's detection as a suggested label;
- :mod:`.labels`: the label record and the drawing operations (shapes, brush, eraser);
- :mod:`.views`: the synchronised views of an ROI for labelling;
- :mod:`.export`: the labelled ROIs as Landslide4Sense patches (through :mod:`landslide_core.patches`).
"""
from .labels import QUALITY_FLAGS, RoiLabel
from .rois import DEFAULT_ROI_SIZE_M, Roi, roi_at, rois_covering, rois_from_file, rois_from_geojson, sample_rois
from .store import DatasetSpec, DatasetStore, datasets_root, list_datasets

__all__ = ["DatasetSpec", "DatasetStore", "Roi", "RoiLabel", "QUALITY_FLAGS", "DEFAULT_ROI_SIZE_M", "roi_at",
           "rois_covering", "rois_from_file", "rois_from_geojson", "sample_rois", "datasets_root", "list_datasets"]
