"""Landslide4Sense-layout patches from labelled scenes: one exporter for every source of labels.

:class:`~.export.PatchExporter` turns a scene GeoTIFF and landslide polygons into
``img/image_N.h5`` ('img', 128 x 128 x 14, L4S units through the band contract) and
``mask/mask_N.h5`` ('mask', the polygons rasterised), with ``manifest.json`` (where each
patch came from) and ``split.json`` (a deterministic train/validation split by group).
The dataset builder's labelling and the review of detections both end here, and training
reads the result as it is. :func:`~.merge.merge_datasets` joins datasets (L4S + L4S-PE).
"""
from .export import (MANIFEST_FILE, PATCH_PX, PatchExporter, patch_windows, polygon_mask, scene_tiles,
                     tiles_touching, windows_around)
from .merge import merge_datasets
from .split import assign_split

__all__ = ["PatchExporter", "patch_windows", "windows_around", "scene_tiles", "tiles_touching", "polygon_mask",
           "merge_datasets", "assign_split", "PATCH_PX", "MANIFEST_FILE"]
