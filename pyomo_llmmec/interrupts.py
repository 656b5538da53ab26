"""SIGINT / SIGTERM during a command-line run (issue 14): stop cleanly, never as a result.

``llmmec`` runs its command inside :func:`handling`, which installs handlers for
SIGINT and SIGTERM.  A signal sets a process-wide flag and raises
:class:`Interrupted` (a ``KeyboardInterrupt``), and the command line exits with
128 + the signal number (130 for SIGINT, 143 for SIGTERM) after one line on
stderr.  Two things make that reliable when the signal lands inside a solver:

* **the flag** — a ``KeyboardInterrupt`` raised inside a C callback can come out
  of the solver as another exception (ctypes turns it into ``ArgumentError``;
  a library may log it, swallow it or report a failed solve).  Code that treats
  a solver exception as a failed step asks :func:`requested` first, and
  :func:`check` after each solver call raises :class:`Interrupted` when an
  interrupt was requested, so an interrupt swallowed inside a solver is still
  honoured;
* **deferred regions** — inside :func:`deferred`, a signal only sets the flag:
  the solver is expected to stop at its next callback (Ipopt's intermediate
  callback returns False when :func:`requested`), and :class:`Interrupted` is
  raised when the region ends.  No exception ever passes through the solver's
  C code there.

Once a command's result is complete (:func:`finishing`), a signal no longer
stops it: the summary and the output file are written and the run ends
normally (a second signal still stops it).  So an interrupted run never prints
a summary and never leaves an output file, and a run that prints its summary
also writes its file.

When an interrupt is honoured, logging is switched off for the rest of the
command (:func:`logging.disable`): libraries log the exception they see
(Pyomo's ``Exception encountered during cyipopt solve`` with its traceback,
MindtPy's ``logger.error(e, exc_info=True)``), which would bury the one line.

A signal that lands where Python cannot raise (a weakref callback, a ``__del__``)
is not printed as "Exception ignored in ...": the flag honours it at the next
:func:`check`.

Outside :func:`handling` (library use) no handler is installed and the flag is
never set: :func:`requested` is False and :func:`check` does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading

__all__ = ["Interrupted", "handling", "requested", "check", "deferred", "finishing", "ending", "raise_if_requested"]

SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int = signal.SIGINT):
        self.signum = int(signum)
        try:
            name = signal.Signals(self.signum).name
        except ValueError:
            name = f"signal {self.signum}"
        super().__init__(name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return self.args[0]


class _State:
    def __init__(self):
        self.signum: int | None = None  # the first signal received
        self.count = 0  # signals received
        self.defer = 0  # depth of deferred() regions
        self.finishing = False
        self.ignoring = False  # the command has ended: its outcome is being reported
        self.active = False  # inside handling()


_state = _State()


def requested() -> int | None:
    """The signal number of an interrupt that is to stop the command (the first signal), or None.

    None as well once the command is :func:`finishing` (a signal then does not stop it).
    """
    return None if _state.finishing else _state.signum


def check() -> None:
    """Raise :class:`Interrupted` if an interrupt was requested (call it after every solver call)."""
    if requested() is not None:
        raise Interrupted(_state.signum)


def raise_if_requested(exc: BaseException | None = None) -> None:
    """In an ``except`` branch: if an interrupt was requested, ``exc`` is its echo — raise :class:`Interrupted` instead.

    Without :func:`handling` (library use), a ``ctypes.ArgumentError`` that wraps a
    ``KeyboardInterrupt`` (Ctrl-C during a ctypes call's argument conversion) is
    raised as the ``KeyboardInterrupt`` it is.
    """
    if requested() is not None:
        if isinstance(exc, Interrupted):
            raise exc
        raise Interrupted(_state.signum) from None
    if exc is not None and type(exc).__name__ == "ArgumentError" and ": KeyboardInterrupt:" in f": {exc}":
        raise KeyboardInterrupt from exc


def _honour() -> None:
    """An interrupt will stop the command: silence the loggers of the libraries that see it on its way out."""
    logging.disable(logging.CRITICAL)


def _handler(signum, frame):
    if _state.ignoring:
        return
    _state.count += 1
    if _state.signum is None:
        _state.signum = signum
    if _state.finishing and _state.count == 1:
        return  # the result is complete: write it and end normally
    _honour()
    if _state.defer and _state.count == 1:
        return  # the solver stops at its next callback; deferred() raises when it returns
    raise Interrupted(_state.signum)


@contextlib.contextmanager
def deferred():
    """A region (one solver call) where a signal only sets the flag; :class:`Interrupted` is raised at its end.

    An exception leaving the region while an interrupt is requested becomes
    :class:`Interrupted` (the exception is taken to be the solver's echo of it).
    """
    _state.defer += 1
    try:
        yield
    except BaseException as exc:
        _state.defer -= 1
        raise_if_requested(exc)
        raise
    else:
        _state.defer -= 1
    check()


def finishing() -> None:
    """The command's result is complete: from now on a (first) signal does not stop it.

    An interrupt requested before (and swallowed somewhere) is honoured here.
    """
    check()
    if _state.active:
        _state.finishing = True


def ending() -> None:
    """The command has ended (returned or raised): further signals are ignored while its outcome is reported."""
    _state.ignoring = _state.active


def _reset() -> None:
    _state.signum, _state.count, _state.defer, _state.finishing, _state.ignoring = None, 0, 0, False, False


@contextlib.contextmanager
def handling(*, exiting: bool = False):
    """Install the SIGINT/SIGTERM handlers for one command; restores the previous ones (and logging) after.

    ``exiting=True`` (the ``llmmec`` process itself, which exits right after):
    the signals are ignored from the end of the command on instead, so a late
    signal cannot turn the process's shutdown into a traceback.  Only the main
    thread can install signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread() or _state.active:
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    disabled = logging.root.manager.disable
    unraisable = sys.unraisablehook

    def quiet_unraisable(u):
        # the handler's exception raised where Python cannot propagate it (a weakref callback, a __del__) is
        # printed as "Exception ignored in ..." with a traceback: the flag honours the interrupt instead
        if isinstance(u.exc_value, KeyboardInterrupt) and _state.signum is not None:
            return
        unraisable(u)

    _reset()
    _state.active = True
    try:
        sys.unraisablehook = quiet_unraisable
        for s in SIGNALS:
            signal.signal(s, _handler)
        yield
    finally:
        for s, h in previous.items():
            with contextlib.suppress(TypeError, ValueError, OSError):
                signal.signal(s, signal.SIG_IGN if exiting else h if h is not None else signal.SIG_DFL)
        if not exiting:
            sys.unraisablehook = unraisable
        _state.active = False
        _reset()
        logging.disable(disabled)
