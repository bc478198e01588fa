"""Training on Landslide4Sense-style data: datasets, the thesis loss, runs, evaluation, promotion.

The public entry points: :class:`TrainConfig`, :func:`train` (in this process),
:func:`launch_detached` (in a process of its own), :func:`evaluate`, :func:`promote`.
"""
from .config import TrainConfig
from .evaluate import EvalResult, evaluate, format_table
from .promote import promote
from .runs import launch_detached, list_runs, request_stop, runs_root
from .trainer import RunSummary, train

__all__ = ["TrainConfig", "train", "RunSummary", "launch_detached", "list_runs", "request_stop", "runs_root",
           "evaluate", "format_table", "EvalResult", "promote"]
