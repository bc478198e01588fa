"""A regional batch from start to end: plan, run the stages on Dask, merge, summarise.

Stages (each a set of Dask tasks from :mod:`.tasks`; the next starts when one ends):

1. ``prepare``: the source's one-off work for the region (the demo renders its world);
2. ``fetch``: the scenes of the tiles that hold each zone's co-registration samples;
3. ``shift``: each zone's co-registration shift, as one run over it would estimate it (its
   sample windows measured in parts, one per worker, and put together here);
4. ``predict``: every tile fetched (if not yet), its probabilities (its share of the zone's
   windows) and evidence computed, its scenes removed: disk stays a few tiles per worker;
5. ``change``: every region tile's change, decided on whole objects;
6. ``merge``: COG mosaics per zone and ``new_landslides.geojson`` and ``.gpkg``, each its own
   task; then ``summary.json``.

Tiles are reused when their marker is there (:mod:`.layout`); a failed task is retried by
Dask (``retries``), and a tile that still fails is reported with its reason while the others
go on; a rerun computes only what is missing. A worker that dies mid-task (killed, out of
memory) has its task run again on another worker.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..detection import DetectionOptions, load_model, make_out_dir
from ..errors import Cancelled, InputError, SourceError, UserError
from ..postprocess import pixel_area_ha
from ..progress import CancelToken, ProgressFn
from ..sources.request import AnalysisRequest, DateWindow
from . import merge, tasks
from .cluster import dashboard_link, dask_client
from .job import BatchJob, options_to_dict
from .layout import BatchLayout, read_json, write_json
from .tiling import MAX_REGION_KM2, BatchPlan, make_plan

SUMMARY_FILE = "summary.json"
GEOJSON_FILE = "new_landslides.geojson"
GPKG_FILE = "new_landslides.gpkg"
EventFn = Callable[[dict], None]


@dataclass
class BatchSettings:
    """The inputs of ``python -m landslide_core batch`` (see :func:`run_batch`)."""

    region: dict
    pre: DateWindow
    post: DateWindow
    out: Path
    cloud_limit_pct: float = 30.0
    composite: str = "least_cloudy"
    source: str = "demo"
    source_options: dict = field(default_factory=dict)
    model: Optional[str] = None
    options: Optional[DetectionOptions] = None
    tile_km: float = 10.0
    workers: int = 2
    scheduler: Optional[str] = None
    retries: int = 2


def prepare_job(settings: BatchSettings) -> tuple[BatchJob, BatchPlan]:
    """Check the inputs and plan the tiles (no cluster needed): InputError/ModelError on bad input."""
    from ..sources import get_source, source_class

    options = (settings.options or DetectionOptions()).validate()
    plan_region = settings.region
    model, card, model_path = load_model(settings.model)
    multiple = int(getattr(model, "multiple", 1) or 1)
    plan = make_plan(plan_region, settings.tile_km, options.window_px, options.overlap_px, multiple)
    request = AnalysisRequest(settings.region, settings.pre, settings.post, settings.cloud_limit_pct,
                              settings.composite)
    request.validate(max_area_km2=MAX_REGION_KM2)
    name = source_class(settings.source).name
    source_options = dict(settings.source_options)
    if name == "demo":
        from ..sources.demo import WORLD_MAX_KM2

        if plan.area_km2 > WORLD_MAX_KM2:
            raise InputError(f"The demo source renders one synthetic world per region, at most {WORLD_MAX_KM2:,.0f} km2; "
                             f"this region is {plan.area_km2:,.0f} km2.",
                             "Use a smaller region with --source demo, or a real source.")
        source_options["world"] = settings.region
    elif name == "local":
        source_options["grid_from"] = "request"
        for key in ("pre_path", "post_path", "dem_path"):  # the workers may start in another folder
            if source_options.get(key):
                source_options[key] = str(Path(source_options[key]).resolve())
    get_source(name, **source_options)  # unknown options: InputError now, not on every worker
    job = BatchJob(region=settings.region, pre=settings.pre.to_json(), post=settings.post.to_json(),
                   cloud_limit_pct=float(settings.cloud_limit_pct), composite=settings.composite, source=name,
                   source_options=source_options, model_path=str(Path(model_path).resolve()),
                   model_sha256=card.weights_sha256,
                   options=options_to_dict(options), tile_km=float(settings.tile_km))
    return job, plan


class _Stage:
    """Submits one stage's tasks and gathers results and failures, with progress."""

    def __init__(self, client, job_path: Path, retries: int, progress: Optional[ProgressFn],
                 on_event: Optional[EventFn], cancel: Optional[CancelToken]):
        self.client, self.job_path, self.retries = client, str(job_path), int(retries)
        self.progress, self.on_event, self.cancel = progress, on_event, cancel
        self.nonce = uuid.uuid4().hex[:8]
        self.walls: dict[str, float] = {}
        self.task_seconds: dict[str, float] = {}
        self.workers: dict[int, dict[str, float]] = {}
        self.computed: dict[str, set[str]] = {"fetch": set(), "predict": set(), "change": set()}
        self.zone_results: dict[str, dict] = {}
        self.region_result: dict[str, Any] = {}

    def run(self, stage: str, fn, items: list[tuple[str, tuple]]) -> tuple[dict[str, dict], dict[str, str]]:
        from distributed import as_completed

        t0 = time.perf_counter()
        results: dict[str, dict] = {}
        failures: dict[str, str] = {}
        if not items:
            self.walls[stage] = self.walls.get(stage, 0.0)
            return results, failures
        futures = {}
        for ident, args in items:
            f = self.client.submit(fn, self.job_path, *args, key=f"batch-{stage}-{ident}-{self.nonce}",
                                   retries=self.retries, pure=False)
            futures[f] = ident
        total, done = len(items), 0
        if self.progress:
            self.progress(0, total, stage)
        try:
            for f in as_completed(list(futures), loop=self.client.loop):
                ident = futures[f]
                if f.status == "finished":
                    results[ident] = f.result()
                    self._account(stage, results[ident])
                else:
                    failures[ident] = failure_reason(f.exception() if f.status == "error" else None)
                done += 1
                if self.progress:
                    self.progress(done, total, stage)
                if self.on_event:
                    self.on_event({"stage": stage, "id": ident, "done": done, "total": total,
                                   "ok": ident in results})
                if self.cancel is not None and self.cancel.cancelled:
                    raise Cancelled()
        except BaseException:
            self.client.cancel(list(futures))
            raise
        self.walls[stage] = self.walls.get(stage, 0.0) + time.perf_counter() - t0
        return results, failures

    def _account(self, stage: str, result: dict) -> None:
        if not result.get("reused"):
            self.computed.setdefault(stage, set()).add(str(result.get("id")))
            self.task_seconds[stage] = self.task_seconds.get(stage, 0.0) + float(result.get("seconds", 0.0))
        if stage == "predict" and not result.get("reused"):  # the model's own share of it
            model_s = sum(float((result.get(d) or {}).get("seconds", 0.0)) for d in ("pre", "post"))
            self.task_seconds["model"] = self.task_seconds.get("model", 0.0) + model_s
        fetched = result.get("fetch")
        if stage == "predict" and isinstance(fetched, dict):
            # a tile fetched inside its predict task: that part counts as fetch
            self.computed["fetch"].add(str(result.get("id")))
            self.task_seconds["fetch"] = self.task_seconds.get("fetch", 0.0) + float(fetched.get("seconds", 0.0))
            self.task_seconds["predict"] -= float(fetched.get("seconds", 0.0))
        w = self.workers.setdefault(int(result.get("pid", 0)), {"tasks": 0, "peak_rss_mb": 0.0})
        w["tasks"] += 1
        w["peak_rss_mb"] = max(w["peak_rss_mb"], float(result.get("peak_rss_mb", 0.0)))


def failure_reason(exc: Optional[BaseException]) -> str:
    """A failed task's reason in words."""
    if exc is None:
        return "cancelled"
    if isinstance(exc, UserError):
        return str(exc)
    if type(exc).__name__ == "KilledWorker":
        return ("the workers running it died repeatedly (killed, or out of memory); "
                "give the workers more memory or use smaller tiles (--tile-km)")
    return f"{type(exc).__name__}: {exc}"


def run_batch(settings: BatchSettings, progress: Optional[ProgressFn] = None, log: Optional[Callable[[str], None]] = None,
              on_event: Optional[EventFn] = None, cancel: Optional[CancelToken] = None) -> dict[str, Any]:
    """Run (or resume) a regional batch into ``settings.out``; return the summary (also written
    to ``summary.json``). ``progress(done, total, stage)`` per finished task; ``log`` gets the
    dashboard link; ``on_event`` every finished task (stage, id, done, total, ok)."""
    t_start = time.perf_counter()
    say = log or (lambda _msg: None)
    job, plan = prepare_job(settings)
    layout = BatchLayout(make_out_dir(Path(settings.out).resolve()))  # workers may start elsewhere
    existing = read_json(layout.job)
    if existing is not None and existing.get("key") != job.key():
        raise InputError(f"The folder {layout.out} holds a batch of other inputs (region, dates, source, model or "
                         "settings differ).", f"Use another --out folder, or delete {layout.work} to start over.")
    write_json(layout.job, job.to_dict())
    write_json(layout.plan, plan.to_dict())
    timings = {"plan": round(time.perf_counter() - t_start, 3)}
    failed: dict[str, dict[str, str]] = {}
    finished_before = {s: {t.id for t in plan.tiles if _marker(layout, t, s) is not None}
                       for s in ("fetch", "predict", "change")}
    t_cluster = time.perf_counter()
    with dask_client(settings.workers, settings.scheduler) as client:
        timings["cluster_start"] = round(time.perf_counter() - t_cluster, 3)
        link = dashboard_link(client)
        say(f"Dask: {len(client.scheduler_info().get('workers', {}))} workers at {client.scheduler.address}"
            + (f"; dashboard {link}" if link else ""))
        stages = _Stage(client, layout.job, settings.retries, progress, on_event, cancel)
        _run_stages(stages, layout, job, plan, failed)
    summary = _summary(settings, job, plan, layout, failed, stages, timings, t_start, link, finished_before)
    write_json(layout.out / SUMMARY_FILE, summary)
    return summary


def _marker(layout: BatchLayout, tile, stage: str) -> Optional[dict]:
    return read_json(layout.marker(tile.zone, tile.id, stage))


def _run_stages(stages: _Stage, layout: BatchLayout, job: BatchJob, plan: BatchPlan,
                failed: dict[str, dict[str, str]]) -> None:
    from ..sources import source_class

    def fail(tile_id: str, stage: str, reason: str) -> None:
        failed.setdefault(tile_id, {"stage": stage, "reason": reason})

    need_predict = [t for t in plan.tiles if _marker(layout, t, "predict") is None]
    if need_predict and hasattr(source_class(job.source), "prepare"):
        _, errors = stages.run("prepare", tasks.prepare_region, [("region", ())])
        if errors:
            raise SourceError(f"The source could not prepare the region: {errors['region']}")
    # the zones' co-registration first: fetch the tiles holding its samples, estimate it once
    zones = sorted({t.zone for t in need_predict if read_json(layout.shift(t.zone)) is None})
    coregister = job.detection_options().coregister
    samples = [plan.tile(tid) for z in zones for tid in tasks.sample_tile_ids(plan, z)] if coregister else []
    samples = [t for t in samples if _marker(layout, t, "fetch") is None]
    _, errors = stages.run("fetch", tasks.fetch_tile, [(t.id, (t.id,)) for t in samples])
    for tid, reason in errors.items():
        fail(tid, "fetch", reason)
    for zone_id, reason in _zone_shifts(stages, layout, plan, zones, coregister).items():
        for t in need_predict:
            if t.zone == zone_id:
                fail(t.id, "shift", f"the zone's co-registration failed: {reason}")
    # then every tile: fetched (if not yet) and predicted in one task, its scenes removed after
    need_predict = [t for t in need_predict if t.id not in failed]
    _, errors = stages.run("predict", tasks.predict_tile, [(t.id, (t.id,)) for t in need_predict])
    for tid, reason in errors.items():
        fail(tid, "predict", reason)
    states = {z.id: tasks.zone_state(layout, plan, z.id) for z in plan.zones}
    need_change = []
    for t in plan.region_tiles:
        if t.id in failed:
            continue
        if _marker(layout, t, "predict") is None:
            fail(t.id, "predict", "not predicted")
            continue
        done = _marker(layout, t, "change")
        if done is None or done.get("zone_state") != states[t.zone]:
            need_change.append(t)
    _, errors = stages.run("change", tasks.change_tile, [(t.id, (t.id, states[t.zone])) for t in need_change])
    for tid, reason in errors.items():
        fail(tid, "change", reason)
    settings = {"min_area_ha": job.detection_options().min_area_ha}
    parts, errors = stages.run("merge", merge.finalize, [(p, (p, settings)) for p in merge.merge_parts(plan)])
    if "region" in errors:
        raise SourceError(f"The new landslides could not be written: {errors['region']}")
    if errors:
        raise SourceError(f"The mosaics could not be written: {'; '.join(errors.values())}")
    stages.region_result = parts.pop("region")
    for res in parts.values():  # a zone's mosaics, one result each
        zone = stages.zone_results.setdefault(res["zone"], {"outputs": {}})
        zone["outputs"].update(res["outputs"])
        zone["grid"] = res["grid"]


def _zone_shifts(stages: _Stage, layout: BatchLayout, plan: BatchPlan, zones: list[str],
                 coregister: bool) -> dict[str, str]:
    """Each zone's co-registration shift, measured in parts on the workers (one per worker) and
    put together here; the zones whose shift failed, with the reason."""
    if not coregister:
        for z in zones:
            write_json(layout.shift(z), {"coregister": False, "applied": False})
        return {}
    workers = max(1, sum(stages.client.nthreads().values()))
    items = [(f"{z}#{i}", (z, i, n)) for z in zones for n in (tasks.shift_parts(plan, z, workers),) for i in range(n)]
    results, errors = stages.run("shift", tasks.zone_shift_part, items)
    failed = {}
    for ident, reason in errors.items():
        failed.setdefault(ident.split("#")[0], reason)
    for z in zones:
        if z in failed:
            continue
        try:
            tasks.finish_zone_shift(layout, plan, z, [r for i, r in results.items() if i.split("#")[0] == z])
        except UserError as exc:
            failed[z] = str(exc)
    return failed


def _summary(settings: BatchSettings, job: BatchJob, plan: BatchPlan, layout: BatchLayout,
             failed: dict[str, dict[str, str]], stages: _Stage, timings: dict, t_start: float,
             link: Optional[str], finished_before: dict[str, set[str]]) -> dict[str, Any]:
    classes = ("stable", "new", "persisting", "vanished", "not_assessable")
    totals: dict[str, Any] = {f"{c}_ha": 0.0 for c in classes}
    counts = {k: 0 for k in ("vanished_count", "pre_landslide_count", "post_landslide_count",
                             "new_candidates_without_evidence", "judged_against_view_median")}
    mapped = 0
    neighbours_failed = []
    for t in plan.region_tiles:
        done = _marker(layout, t, "change")
        if done is None or t.id in failed:
            continue
        mapped += 1
        ha = pixel_area_ha(plan.zone(t.zone).grid.transform)
        for c, px in zip(classes, done["class_px"]):
            totals[f"{c}_ha"] += px * ha
        for k in counts:
            counts[k] += int(done.get(k, 0))
        if any(n.id in failed for n in plan.neighbours(t)):
            neighbours_failed.append(t.id)
    totals = {k: round(v, 4) for k, v in totals.items()}
    region = stages.region_result
    totals.update(new_count=region.get("new_count", 0), new_landslides_ha=region.get("new_landslides_ha", 0.0), **counts)
    zones = []
    shifts_warnings = []
    for z in plan.zones:
        shift = read_json(layout.shift(z.id))
        if shift and shift.get("warning"):
            shifts_warnings.append(f"{z.id}: {shift['warning']}")
        res = stages.zone_results.get(z.id, {})
        zones.append({"id": z.id, "epsg": z.epsg, "grid": z.grid.key(), "mosaic_grid": res.get("grid"),
                      "outputs": res.get("outputs", {}), "tiles": len(plan.tiles_of(z.id, "region")),
                      "context_tiles": len(plan.tiles_of(z.id, "context")), "coregistration": shift})
    fetched = {"requests": 0, "bytes_downloaded": 0}
    for t in plan.tiles:
        done = _marker(layout, t, "fetch") or {}
        fetched["requests"] += int(done.get("requests", 0))
        fetched["bytes_downloaded"] += int(done.get("bytes_downloaded", 0))
    walls = {k: round(v, 3) for k, v in stages.walls.items()}
    timings.update(walls)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    warnings = list(shifts_warnings)
    if neighbours_failed:
        warnings.append(f"{len(neighbours_failed)} tiles were mapped next to a failed tile (its area was not "
                        "assessable for them); a rerun that completes the failed tiles maps them again.")
    if counts["judged_against_view_median"]:
        warnings.append(f"{counts['judged_against_view_median']} objects had too few clear pixels around them and "
                        "were judged against the median change of their tile's view instead.")
    pixels = sum(z.grid.width * z.grid.height for z in plan.zones)
    return {
        "kind": "batch",
        "job": job.key(),
        "region": {"area_km2": plan.area_km2, "zones": len(plan.zones), "zone_grid_pixels": pixels,
                   "tile_km": plan.tile_km},
        "request": {"pre": job.pre, "post": job.post, "cloud_limit_pct": job.cloud_limit_pct,
                    "composite": job.composite, "source": job.source},
        "model": {"path": job.model_path, "weights_sha256": job.model_sha256},
        "settings": job.options,
        "tiles": {"total": len(plan.region_tiles), "context": len(plan.tiles) - len(plan.region_tiles),
                  "ok": mapped, "failed": len([t for t in plan.region_tiles if t.id in failed]),
                  "failed_tiles": [{"tile": tid, **info} for tid, info in sorted(failed.items())],
                  "computed": {s: len(stages.computed[s]) for s in ("fetch", "predict", "change")},
                  "reused": {s: len(finished_before[s] - stages.computed[s]) for s in ("fetch", "predict", "change")},
                  "mapped_next_to_failed": neighbours_failed},
        "totals": totals,
        "zones": zones,
        "fetched": fetched,
        "timings_s": timings,
        "task_seconds": {k: round(v, 3) for k, v in stages.task_seconds.items()},
        "workers": {"count": settings.workers if not settings.scheduler else None, "scheduler": settings.scheduler,
                    "per_process": {str(pid): w for pid, w in stages.workers.items()}, "dashboard": link},
        "warnings": warnings,
        "outputs": {"geojson": GEOJSON_FILE, "gpkg": GPKG_FILE, "summary": SUMMARY_FILE,
                    "rasters": {z["id"]: z["outputs"] for z in zones}},
    }


__all__ = ["BatchSettings", "run_batch", "prepare_job", "failure_reason", "SUMMARY_FILE", "GEOJSON_FILE", "GPKG_FILE"]
