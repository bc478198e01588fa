"""The Dask cluster a batch runs on: a LocalCluster on this machine, or an existing scheduler.

A :class:`distributed.LocalCluster` listens on the loopback interface only (127.0.0.1, the
dashboard too, on a free port) with ``workers`` processes of one thread each; each task sets
torch to the job's number of threads (one), so the workers are the parallelism. With
``scheduler`` (``tcp://host:8786``) the same tasks go to that cluster's workers, which need
this project installed and the output folder on a shared filesystem (see the README).
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator, Optional

from ..errors import InputError

LOOPBACK = "127.0.0.1"


def quiet_dask_logs(level: int = logging.ERROR) -> None:
    """Keep Dask's own log lines (cluster start and stop, each failed task) under ``level`` in
    this process: the batch reports failures itself, with their reasons."""
    import distributed  # noqa: F401 - configures its loggers on import

    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def dask_client(workers: int = 2, scheduler: Optional[str] = None) -> Iterator["object"]:
    """A ``distributed.Client``: to ``scheduler`` when given, else to a new LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="15s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"Cannot reach the Dask scheduler at {scheduler} ({exc}).",
                             "Give its address as tcp://HOST:PORT (the scheduler prints it when it starts), "
                             "or leave --scheduler out to run on this machine.") from None
        try:
            yield client
        finally:
            client.close()
        return
    if int(workers) < 1:
        raise InputError(f"--workers {workers} is not a number of workers.", "Give 1 or more, e.g. --workers 2.")
    cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, host=LOOPBACK,
                           dashboard_address=f"{LOOPBACK}:0", silence_logs=logging.CRITICAL)
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def dashboard_link(client) -> Optional[str]:
    """The Dask dashboard's address, or None when it is not running (bokeh missing)."""
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - the dashboard is optional
        return None
    return link or None


__all__ = ["dask_client", "dashboard_link", "quiet_dask_logs", "LOOPBACK"]
