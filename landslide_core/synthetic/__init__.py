"""A synthetic Sentinel-2 landslide world: deterministic pre/post scenes with ground truth.

``generate_event(grid, seed, pre_date, post_date)`` makes a georeferenced pre/post pair in
the band contract's raw units with new landslides between the dates, old scars and
confounders; ``write_event`` writes it as scene GeoTIFFs plus a truth raster;
``write_l4s_dataset`` writes a Landslide4Sense-style training set; ``DEMO_EVENT`` is the
named demo event.
"""
from .demo_event import DEMO_EVENT, DemoEvent
from .io import write_event
from .l4s_writer import write_l4s_dataset
from .land_cover import LAND_COVER
from .world import SyntheticEvent, WorldOptions, build_world, generate_event, render_scene

__all__ = ["DEMO_EVENT", "DemoEvent", "LAND_COVER", "SyntheticEvent", "WorldOptions", "build_world",
           "generate_event", "render_scene", "write_event", "write_l4s_dataset"]
