"""Run tasks on Dask, saving each result to its own file as it arrives (so a sweep resumes).

* ``workers=W`` starts a :class:`dask.distributed.LocalCluster` of ``W`` worker
  processes with one thread each; ``scheduler="tcp://host:port"`` connects to
  an existing cluster instead (its workers need this package installed);
  ``client=`` reuses a :class:`dask.distributed.Client` the caller owns.
* A task whose file ``DIR/tasks/<key>.json`` exists, records the same spec and
  did not end in an unexpected ``error`` is not run again.
* Files are written by this (the client) process, atomically (temporary file
  + ``os.replace``), as soon as each task finishes, so killing a sweep loses
  at most the tasks that were running.
* A tqdm progress bar (stderr) shows tasks done, the rate and the ETA.

Dask is imported only when a sweep runs, so ``import pyomo_llmmec`` stays light.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..dask_setup import dask_client
from .tasks import RECORD_VERSION, Task, run_task

log = logging.getLogger(__name__)

#: A task file with one of these statuses is computed again on resume (the failure may be transient).
RETRY_STATUSES = ("error",)


@dataclass
class RunStats:
    """What a sweep did: how many tasks were found done (cached), computed now, or could not be run."""

    total: int = 0
    cached: int = 0
    computed: int = 0
    not_run: list = field(default_factory=list)  # (key, reason) of tasks with no result
    computed_keys: list = field(default_factory=list)
    wall_s: float = 0.0
    where: str = ""

    @property
    def complete(self) -> bool:
        return not self.not_run


def task_dir(out_dir) -> Path:
    return Path(out_dir) / "tasks"


def task_path(out_dir, key: str) -> Path:
    return task_dir(out_dir) / f"{key}.json"


def write_json_atomic(path: Path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` via a temporary file in the same directory and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1, sort_keys=True, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_record(path: Path, task: Task, *, resume: bool = True) -> dict | None:
    """The saved record of ``task``, or None if missing, unreadable or stale (made from another spec).

    With ``resume`` (deciding what to run), a record in :data:`RETRY_STATUSES`
    counts as missing too, so it is computed again.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable task file %s (%s); recomputing", path, exc)
        return None
    if not isinstance(rec, dict) or rec.get("version") != RECORD_VERSION or rec.get("spec") != _json_roundtrip(task.spec()):
        log.warning("task file %s was made with other settings; recomputing", path)
        return None
    if resume and rec.get("status") in RETRY_STATUSES:
        return None
    return rec


def _json_roundtrip(obj):
    return json.loads(json.dumps(obj, sort_keys=True))


def run_tasks(tasks: list[Task], out_dir, *, workers: int = 2, scheduler: str | None = None, client=None,
              progress: bool = True, desc: str = "tasks") -> RunStats:
    """Compute every task of ``tasks`` that has no saved record under ``out_dir``; returns :class:`RunStats`.

    Each finished task's record is written to ``DIR/tasks/<key>.json`` at once.
    No Dask cluster is started when every task is already done.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    tdir = task_dir(out_dir)
    tdir.mkdir(parents=True, exist_ok=True)
    stats = RunStats(total=len(tasks))
    todo = []
    for t in tasks:
        if load_record(task_path(out_dir, t.key), t) is None:
            todo.append(t)
    stats.cached = len(tasks) - len(todo)
    if not todo:
        stats.where = "nothing to run (every task was already done)"
        stats.wall_s = time.perf_counter() - t0
        return stats
    with dask_client(workers, scheduler, client) as (c, where):
        stats.where = where
        bar = tqdm(total=len(tasks), initial=stats.cached, desc=desc, unit="task", disable=not progress,
                   file=sys.stderr, dynamic_ncols=True, smoothing=0.05)
        try:
            _run_on_dask(c, todo, out_dir, bar, stats)
        finally:
            bar.close()
            stats.wall_s = time.perf_counter() - t0
    return stats


def _run_on_dask(c, todo, out_dir, bar, stats):
    """Submit ``todo`` to client ``c`` and save each record as it arrives."""
    from dask.distributed import as_completed

    run_id = uuid.uuid4().hex[:8]  # unique Dask keys, even on a shared scheduler
    by_future = {}
    for t in todo:
        fut = c.submit(run_task, t.spec(), key=f"llmmec-{t.key}-{run_id}", pure=False, retries=0)
        by_future[fut] = t
    try:
        for fut in as_completed(list(by_future)):
            t = by_future[fut]
            try:
                rec = fut.result()
            except Exception as exc:  # noqa: BLE001 - the worker died or the task could not be shipped
                first = str(exc).splitlines()[0] if str(exc) else ""
                stats.not_run.append((t.key, f"{type(exc).__name__}: {first}"))
                log.warning("task %s did not run: %s: %s", t.key, type(exc).__name__, first)
            else:
                rec["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                rec["where"] = stats.where
                write_json_atomic(task_path(out_dir, t.key), rec)
                stats.computed += 1
                stats.computed_keys.append(t.key)
            bar.update(1)
    except BaseException:  # KeyboardInterrupt included: stop the queued tasks; the saved ones stay
        c.cancel(list(by_future))
        raise
