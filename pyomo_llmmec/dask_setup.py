"""Connecting to Dask: a LocalCluster of single-threaded worker processes, or an existing scheduler.

Shared by the experiments (``pyomo_llmmec.experiments.runner``) and the split part 2
(``pyomo_llmmec.methods.split_part2``).  Dask is imported only when a client is made.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings

from .errors import InputError, LLMMECError


_ADDRESS = re.compile(r"^([a-z][a-z0-9+.-]*://)?[^\s/:]+(:\d+)?/?$", re.IGNORECASE)


def check_scheduler_address(address: str) -> str:
    """Accept ``tcp://host:port`` (or ``host:port``, ``tls://...``); :class:`InputError` otherwise."""
    if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
        raise InputError(f"--scheduler {address!r}: expected an address like tcp://host:8786")
    return address.strip()


@contextlib.contextmanager
def _quiet_dask_logs(level=logging.ERROR):
    """Keep Dask's INFO chatter (cluster start and shutdown) off the console while a sweep runs."""
    import distributed  # noqa: F401 - importing it configures its loggers; override them afterwards

    names = ["distributed", "tornado"] + [n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(level)
    try:
        yield
    finally:
        for n, lv in saved.items():
            logging.getLogger(n).setLevel(lv)


@contextlib.contextmanager
def dask_client(workers: int = 2, scheduler: str | None = None, client=None):
    """Yield ``(client, description)``: the given client, one connected to ``scheduler``, or a new LocalCluster's."""
    with _quiet_dask_logs():
        with _dask_client(workers, scheduler, client) as pair:
            yield pair


#: seconds to wait for a new LocalCluster's workers, and for a client/cluster to shut down
WORKER_START_TIMEOUT = 120.0
CLOSE_TIMEOUT = 30.0


@contextlib.contextmanager
def _dask_client(workers, scheduler, client):
    if client is not None:
        yield client, "the given Dask client"
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise LLMMECError(f"Dask is not installed ({exc}); pip install 'dask[distributed]'") from None
    if scheduler is not None:
        address = check_scheduler_address(scheduler)
        try:
            c = Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise LLMMECError(f"cannot connect to the Dask scheduler at {address}: {exc}") from None
        try:
            yield c, f"scheduler {address}"
        finally:
            c.close()
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be a whole number >= 1, got {workers!r}")
    import dask

    # worker-saturation 1.0: a worker holds only the task it runs.  With Dask's default (1.1, i.e. two tasks per
    # single-threaded worker) a task queued behind one that kills its worker is counted as suspicious too, and after
    # four deaths both are lost (KilledWorker), though only one was at fault (seen in
    # test_worker_dying_mid_sweep_is_one_line_and_resumes on a loaded machine)
    with warnings.catch_warnings(), dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        # a second cluster on this machine: its HTTP port moves, harmlessly
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL)
    try:
        c = Client(cluster)
    except BaseException:
        with contextlib.suppress(Exception):
            cluster.close(timeout=CLOSE_TIMEOUT)
        raise
    try:
        try:  # a worker that never comes up would leave the tasks waiting for ever: fail loudly instead
            c.wait_for_workers(workers, timeout=WORKER_START_TIMEOUT)
        except TimeoutError:
            raise LLMMECError(f"the LocalCluster's {workers} worker process(es) did not start within "
                              f"{WORKER_START_TIMEOUT:g} s (machine overloaded?); try fewer --workers") from None
        yield c, f"LocalCluster with {workers} worker(s)"
    finally:
        with contextlib.suppress(Exception):
            c.close(timeout=CLOSE_TIMEOUT)
        with contextlib.suppress(Exception):
            cluster.close(timeout=CLOSE_TIMEOUT)  # bounded: a stuck worker does not hang the caller


