"""Shared helpers of the benchmark scripts: resumable CSV of rows, one case per fresh process."""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import resource
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def results_file(path, fresh: bool) -> Path:
    """The CSV a benchmark appends to; ``fresh`` deletes it first (otherwise a rerun resumes)."""
    out = Path(path)
    if fresh and out.exists():
        out.unlink()
    return out


def load_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def append_row(path: Path, row: dict, columns: list[str]) -> None:
    """Append one row (header on first write) and flush, so an interrupted run resumes where it stopped."""
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow({k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in row.items()})
        fh.flush()
        os.fsync(fh.fileno())


def replace_row(path: Path, row: dict, columns: list[str], key: tuple[str, ...]) -> None:
    """Write ``row`` in place of the row with the same ``key`` values (or append it); the file is replaced atomically."""
    rows = [r for r in load_rows(path) if tuple(str(r[k]) for k in key) != tuple(str(row[k]) for k in key)]
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    append_row(path, row, columns)


def _child(fn, args, q):
    t0 = time.perf_counter()
    try:
        out = fn(*args)
        out["error"] = ""
    except Exception as exc:  # noqa: BLE001 - a failed case is a row with its message
        out = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    out["process_wall_s"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    q.put(out)


def in_fresh_process(fn, *args, timeout: float | None = None) -> dict:
    """Run fn(*args) -> dict in a new process; adds its peak RSS (MB) and wall time; a timeout kills it."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(fn, args, q))
    p.start()
    try:
        out = q.get(timeout=timeout)
    except Exception:  # noqa: BLE001 - queue.Empty on timeout
        p.kill()
        out = {"error": f"killed after {timeout:g} s"}
    p.join()
    return out
