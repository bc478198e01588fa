"""Experiments that re-run the thesis: its grid of architectures x band sets x datasets
(:mod:`.grid`) against its own figures (:mod:`.thesis`)."""
from .grid import GridRow, GridSettings, read_grid, run_grid
from .thesis import ARCHITECTURES, THESIS_FIGURES

__all__ = ["GridSettings", "GridRow", "run_grid", "read_grid", "ARCHITECTURES", "THESIS_FIGURES"]
