"""Shared pieces of the dashboard and analysis tests: a tiny model and a tiny demo request."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import torch

from landslide_core.bands import ALL_BANDS
from landslide_core.checkpoint import ModelCard, save_checkpoint
from landslide_core.zoo import build_model

#: Half the side of the tiny AOI, in degrees (0.0045 deg ~ 500 m: a ~1 km square).
TINY_HALF_DEG = 0.0045


def save_tiny_model(folder: Path, name: str = "tiny") -> Path:
    """A randomly initialised 4-channel U-Net checkpoint; returns its card path."""
    torch.manual_seed(0)
    model = build_model("unet_vanilla", len(ALL_BANDS), base_channels=4)
    card = ModelCard(name=name, architecture="unet_vanilla", band_set="l4s14", bands=list(ALL_BANDS),
                     arch_kwargs={"base_channels": 4}, trained_on="random init (test)", threshold=0.5)
    return save_checkpoint(model, card, Path(folder) / name)


def demo_event():
    from landslide_core.synthetic import DEMO_EVENT

    return DEMO_EVENT


def _date(d) -> dt.date:
    return d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))


def tiny_demo_aoi() -> dict:
    """A ~1 km square at the centre of the demo event's area."""
    from shapely.geometry import shape

    c = shape(demo_event().aoi).centroid
    h = TINY_HALF_DEG
    return {"type": "Polygon", "coordinates": [[[c.x - h, c.y - h], [c.x + h, c.y - h], [c.x + h, c.y + h],
                                                [c.x - h, c.y + h], [c.x - h, c.y - h]]]}


def demo_windows() -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    ev = demo_event()
    return ((_date(ev.pre_window[0]), _date(ev.pre_window[1])),
            (_date(ev.post_window[0]), _date(ev.post_window[1])))


def tiny_demo_request(cloud_limit_pct: float = 30.0):
    from landslide_core.sources.request import AnalysisRequest, DateWindow

    pre, post = demo_windows()
    return AnalysisRequest(tiny_demo_aoi(), DateWindow(*pre), DateWindow(*post), cloud_limit_pct)


def big_aoi() -> dict:
    """A 1 x 1 degree square (~12,000 km2): over the AOI limit."""
    return {"type": "Polygon", "coordinates": [[[-76.0, -12.0], [-75.0, -12.0], [-75.0, -11.0],
                                                [-76.0, -11.0], [-76.0, -12.0]]]}
