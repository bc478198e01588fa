"""The Dask cluster a batch runs on: a LocalCluster on this machine, or an existing scheduler.

A :class:`distributed.LocalCluster` listens on the loopback interface only (127.0.0.1, the
dashboard too, on a free port) with ``workers`` processes of one thread each; each task sets
torch to the job's number of threads (one), so the workers are the parallelism. Its workers
start without Dask's ``MALLOC_TRIM_THRESHOLD_=65536``: that setting also turns off glibc's
adaptive mmap threshold, so every array over 128 kB is mapped and unmapped afresh, which
makes this project's numpy work about 1.6x slower (measured: a labelling and morphology loop
0.58 s in a worker with it, 0.36 s without, as in a plain process). Its workers are forked
from one ``forkserver`` process that has imported the tasks' modules (torch, rasterio, the
pipeline) once: a worker, or one restarted after a crash, starts in a fraction of a second
instead of importing them anew (about 2.5 CPU-seconds each), so 2 workers start as fast as 1.
With
``scheduler`` (``tcp://host:8786``) the same tasks go to that cluster's workers, which need
this project installed and the output folder on a shared filesystem (see the README).
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator, Optional

from distributed import Client, LocalCluster, WorkerPlugin

from ..errors import InputError

LOOPBACK = "127.0.0.1"


class QuickExit(WorkerPlugin):
    """A closing worker of our own LocalCluster leaves at once, skipping the interpreter's
    teardown (seconds with torch loaded): every task's result is on disk by then. Never
    registered on a cluster the batch did not start."""

    name = "landslide-quick-exit"

    def teardown(self, worker) -> None:
        os._exit(0)


def quiet_dask_logs(level: int = logging.ERROR) -> None:
    """Keep Dask's own log lines (cluster start and stop, each failed task) under ``level`` in
    this process: the batch reports failures itself, with their reasons."""
    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(level)


#: What the workers' tasks import, loaded once in the forkserver that forks every worker
FORKSERVER_PRELOAD = ("landslide_core.batch.tasks", "landslide_core.batch.merge", "landslide_core.detection",
                      "landslide_core.change", "landslide_core.evidence", "landslide_core.sources.demo",
                      "landslide_core.sources.pair", "rio_cogeo")


def _use_forkserver() -> None:
    """Workers of this process's nannies forked from a forkserver holding the tasks' modules.

    Set once per process, before its first worker starts (the forkserver is started then, and
    inherits the environment Dask prepares for workers: OMP_NUM_THREADS=1 and the like)."""
    import multiprocessing

    import dask
    from distributed.utils import get_mp_context

    dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    ctx = get_mp_context()  # Dask sets its own preload list here (once per process) ...
    if isinstance(ctx, multiprocessing.context.ForkServerContext):
        # ... which ours replaces (what the tasks import covers Dask's needs); ignored once the server runs
        ctx.set_forkserver_preload(["distributed", *FORKSERVER_PRELOAD])


def start_local_cluster(workers: int) -> tuple[LocalCluster, Client]:
    """A LocalCluster of ``workers`` one-thread processes on the loopback interface, and a client."""
    if int(workers) < 1:
        raise InputError(f"--workers {workers} is not a number of workers.", "Give 1 or more, e.g. --workers 2.")
    import dask

    # for every worker this process's nannies start, restarts included (see the module doc)
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    _use_forkserver()
    # the workers see this process's environment as it is now (the scene cache, sign-ins), as
    # spawned ones would: a forkserver keeps the environment it started with
    cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, host=LOOPBACK,
                           dashboard_address=f"{LOOPBACK}:0", silence_logs=logging.CRITICAL, env=dict(os.environ))
    try:
        client = Client(cluster, set_as_default=False)
        client.register_plugin(QuickExit())
    except BaseException:
        cluster.close()
        raise
    return cluster, client


@contextlib.contextmanager
def dask_client(workers: int = 2, scheduler: Optional[str] = None) -> Iterator[Client]:
    """A ``distributed.Client``: to ``scheduler`` when given, else to a new LocalCluster."""
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
    cluster, client = start_local_cluster(workers)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def dashboard_link(client: Client) -> Optional[str]:
    """The Dask dashboard's address, or None when it is not running (bokeh missing)."""
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - the dashboard is optional
        return None
    return link or None


__all__ = ["FORKSERVER_PRELOAD", "LOOPBACK", "QuickExit", "dask_client", "dashboard_link", "quiet_dask_logs", "start_local_cluster"]
