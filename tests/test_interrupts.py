"""SIGINT / SIGTERM end an ``llmmec`` run cleanly (issue 14, item 4).

At any moment after start-up a signal ends the run with exit status 130
(SIGINT) or 143 (SIGTERM), one line on stderr, no traceback, nothing on stdout
(so never a summary claiming convergence) and no output file (a file that was
there before is left byte for byte); a run that had already finished its solve
completes its output and exits 0.

* in-process tests drive the mechanism directly: the handler, the deferred
  regions, a signal inside Ipopt's callback, the solver "echo" of an interrupt
  (``ctypes.ArgumentError``, a ValueError out of MindtPy) and library logging of it;
* subprocess tests send real signals to real ``llmmec solve`` runs at points
  spread over the run (4 points here; 16 + 4 MindtPy runs under ``-m slow``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import pyomo_llmmec as lm
from pyomo_llmmec import interrupts, solvers
from pyomo_llmmec.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(autouse=True)
def _clean_state():
    yield
    assert interrupts.requested() is None and not interrupts._state.active  # handling() always cleans up


def _ipopt_problem():
    """PyNumero's cyipopt problem interface: both part-2 paths solve through a subclass of it (SolverFactory('cyipopt')
    through CyIpoptNLP, the persistent NLP through pyomo_llmmec.nlp._Problem), whose ``solve`` is this one."""
    from pyomo.contrib.pynumero.interfaces.cyipopt_interface import CyIpoptProblemInterface

    solvers.check_ipopt()
    return CyIpoptProblemInterface


# ------------------------------------------------------------------------------------------
# the mechanism, in-process
# ------------------------------------------------------------------------------------------


def test_handler_raises_with_exit_status_and_restores_handlers():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        with interrupts.handling():
            with pytest.raises(interrupts.Interrupted) as ei:
                signal.raise_signal(sig)
                time.sleep(5)  # never reached: the handler raises
            assert ei.value.exit_code == code and isinstance(ei.value, KeyboardInterrupt)
            assert interrupts.requested() == sig
        assert {s: signal.getsignal(s) for s in before} == before
    assert interrupts.requested() is None
    interrupts.check()  # outside handling(): nothing requested, nothing raised


def test_deferred_region_sets_the_flag_and_raises_at_its_end():
    reached = []
    with interrupts.handling():
        with pytest.raises(interrupts.Interrupted):
            with interrupts.deferred():
                signal.raise_signal(signal.SIGINT)
                for _ in range(1000):  # the handler has run by now, without raising inside the region
                    pass
                assert interrupts.requested() == signal.SIGINT
                reached.append(True)
    assert reached
    # an exception out of the region after an interrupt is its echo: Interrupted instead
    with interrupts.handling():
        with pytest.raises(interrupts.Interrupted):
            with interrupts.deferred():
                signal.raise_signal(signal.SIGTERM)
                raise ctypes.ArgumentError("argument 2: KeyboardInterrupt: ")
    # without an interrupt, the exception is what it is
    with interrupts.handling():
        with pytest.raises(ZeroDivisionError):
            with interrupts.deferred():
                1 / 0


def test_signal_where_python_cannot_raise_is_not_printed_but_honoured(monkeypatch):
    """A signal landing in a __del__ (or a weakref callback, as seen in an import lock): no 'Exception ignored'."""
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)  # what Python would print to stderr

    class Bomb:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)
            for _ in range(1000):  # the handler runs here and raises inside __del__: Python only reports it
                pass

    with interrupts.handling():
        Bomb()  # deleted at once
        assert interrupts.requested() == signal.SIGINT
        with pytest.raises(interrupts.Interrupted):
            interrupts.check()
        Bomb.__del__ = lambda self: 1 / 0  # an unrelated unraisable error is still reported
        Bomb()
    assert [type(u.exc_value) for u in reported] == [ZeroDivisionError]
    assert sys.unraisablehook == reported.append  # restored


@pytest.mark.parametrize("persistent", [True, False])
def test_signal_inside_ipopt_stops_it_and_is_not_a_failed_step(toy, monkeypatch, persistent):
    """The signal lands in Ipopt's intermediate callback: Ipopt stops there, DASHF raises Interrupted."""
    cls = _ipopt_problem()
    real = cls.solve
    calls = []

    def solve(self, x, **kw):
        cb = self._intermediate_callback

        def wrapped(*args):
            calls.append(args)
            if len(calls) == 3:
                signal.raise_signal(signal.SIGINT)
            return cb(*args)

        self._intermediate_callback = wrapped
        return real(self, x, **kw)

    monkeypatch.setattr(cls, "solve", solve)
    with interrupts.handling():
        with pytest.raises(interrupts.Interrupted):
            lm.solve(toy, "dashf", assoc="milp", part2_persistent=persistent)
    assert len(calls) == 3  # Ipopt stopped at the callback that saw the signal; no solve after it


@pytest.mark.parametrize("persistent", [True, False])
def test_interrupt_echoed_as_argument_error_is_not_a_failed_step(toy, monkeypatch, persistent):
    """The issue's bug: Ctrl-C inside PyNumero's ctypes call came out as ArgumentError, part 2 took it for a
    failed step, and the run reported 'converged'."""
    cls = _ipopt_problem()

    def solve(self, x, **kw):
        signal.raise_signal(signal.SIGINT)
        raise ctypes.ArgumentError("argument 2: KeyboardInterrupt: ")

    monkeypatch.setattr(cls, "solve", solve)
    with interrupts.handling():
        with pytest.raises(interrupts.Interrupted):
            lm.solve(toy, "gucro", part2_persistent=persistent)


@pytest.mark.parametrize("persistent", [True, False])
def test_argument_error_without_interrupt_is_a_bug_not_a_failed_step(toy, monkeypatch, persistent):
    cls = _ipopt_problem()

    def solve(self, x, **kw):
        raise ctypes.ArgumentError("argument 1: TypeError: wrong type")

    monkeypatch.setattr(cls, "solve", solve)
    with pytest.raises(ctypes.ArgumentError):
        lm.solve(toy, "gucro", part2_persistent=persistent)


def test_mindtpy_interrupt_is_one_line_without_its_logged_traceback(data_dir, tmp_path, monkeypatch, capsys, caplog):
    if not solvers.check_mindtpy().ok:
        pytest.skip("MindtPy is not available: " + solvers.check_mindtpy().detail)
    import pyomo.environ as pyo

    cls = type(pyo.SolverFactory("mindtpy"))

    def solve(self, model, **kw):  # what MindtPy + cyipopt do with a Ctrl-C inside Ipopt's callback
        try:
            signal.raise_signal(signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            logging.getLogger("pyomo.contrib.pynumero.algorithms.solvers.cyipopt_solver").error(
                "Exception encountered during cyipopt solve:", exc_info=True)
            logging.getLogger("pyomo.contrib.mindtpy").error("boom", exc_info=True)
            raise ValueError("MindtPy unable to handle NLP subproblem termination condition of error") from None

    monkeypatch.setattr(cls, "solve", solve)
    out = tmp_path / "sol.xlsx"
    caplog.set_level(logging.DEBUG)
    assert main(["solve", "--no-bound", str(data_dir / "toy_3x2.xlsx"), "--method", "mindtpy", "-o", str(out)]) == 130
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.strip() == "interrupted (SIGINT)", cap
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # the libraries' logs of it are silenced
    assert not out.exists()
    assert logging.root.manager.disable == logging.NOTSET  # logging is back after the command


def test_cli_sigterm_during_the_solve_exits_143_and_keeps_the_previous_file(data_dir, tmp_path, monkeypatch, capsys):
    import pyomo_llmmec.methods as lmethods

    real = lmethods.solve

    def solve(sc, method, **o):
        sol = real(sc, method, **o)
        signal.raise_signal(signal.SIGTERM)  # lands at the very end of the solve
        return sol

    monkeypatch.setattr(lmethods, "solve", solve)
    out = tmp_path / "sol.xlsx"
    out.write_bytes(b"the previous file")
    assert main(["solve", "--no-bound", str(data_dir / "toy_3x2.xlsx"), "--method", "gucaa", "-o", str(out)]) == 143
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.strip() == "interrupted (SIGTERM)"
    assert out.read_bytes() == b"the previous file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sol.xlsx"]  # no temporary file left


def test_cli_signal_while_writing_finishes_the_write(data_dir, tmp_path, monkeypatch, capsys):
    """The result is complete: the summary is printed, so the file is written too, and the run exits 0."""
    import pyomo_llmmec.io as lio

    real = lio.write_solution
    sent = []

    def write_solution(sol, path, sc):
        signal.raise_signal(signal.SIGINT)
        sent.append(True)
        return real(sol, path, sc)

    monkeypatch.setattr(lio, "write_solution", write_solution)
    out = tmp_path / "sol.xlsx"
    sc = lm.read_scenario(data_dir / "toy_3x2.xlsx")
    assert main(["solve", "--no-bound", str(data_dir / "toy_3x2.xlsx"), "--method", "gucaa", "-o", str(out)]) == 0
    cap = capsys.readouterr()
    assert sent and "wrote" in cap.out and "interrupted" not in cap.err
    back = lm.read_solution(out, sc)
    assert lm.evaluate(sc, back).feasible


# ------------------------------------------------------------------------------------------
# real signals to real runs
# ------------------------------------------------------------------------------------------

SIGTERM_BIT = 1 << (signal.SIGTERM - 1)


def _command():
    exe = Path(sys.executable).with_name("llmmec")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pyomo_llmmec"]


def _handlers_installed(pid: int) -> bool:
    """True once the process catches SIGTERM, i.e. llmmec's handlers are in place (Linux /proc)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & SIGTERM_BIT)
    return False


def _run(argv, cwd, sig=None, delay=0.0, timeout=300):
    """Start ``llmmec argv``; ``delay`` s after its handlers are installed send ``sig``.

    Returns (returncode, stdout, stderr, seconds from handlers-installed to exit, signal sent?).
    """
    p = subprocess.Popen(_command() + argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t_end = time.monotonic() + timeout
    try:
        while p.poll() is None and not _handlers_installed(p.pid):
            assert time.monotonic() < t_end, "llmmec did not start"
            time.sleep(0.002)
    except FileNotFoundError:  # the process is gone already
        pass
    t0 = time.monotonic()
    sent = False
    if sig is not None:
        while p.poll() is None and time.monotonic() - t0 < delay:
            time.sleep(0.002)
        if p.poll() is None:
            p.send_signal(sig)
            sent = True
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err, time.monotonic() - t0, sent


def _chatter(line: str) -> bool:
    """HiGHS's own console warnings (MindtPy's MILPs print them on stdout), not ours."""
    return line.startswith("WARNING: Highs")


def _check_outcome(rc, out, err, sig, path: Path, previous: bytes | None, sc, baseline_scr=None):
    where = f"rc={rc}\nstdout={out!r}\nstderr={err[-3000:]}"
    assert "Traceback" not in err, where
    assert rc in (0, 128 + sig), where  # never killed (e.g. -11 SIGSEGV) nor another status
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]
    assert not leftovers, leftovers  # no temporary file, whatever happened
    if rc == 0:  # finished before the signal (or was writing its complete result): complete, valid output
        assert "wrote" in out and "status" in out, where
        back = lm.read_solution(path, sc)
        ev = lm.evaluate(sc, back)
        assert ev.feasible, where
        if baseline_scr is not None:
            assert ev.scr == pytest.approx(baseline_scr, rel=1e-9), where
        return "finished"
    assert not [ln for ln in out.splitlines() if not _chatter(ln)], where  # no summary at all, so never 'converged'
    lines = [ln for ln in err.strip().splitlines() if not _chatter(ln)]
    assert 1 <= len(lines) <= 2 and lines[-1].startswith("interrupted"), where
    if previous is None:
        assert not path.exists(), where
    else:
        assert path.read_bytes() == previous, where
    return "interrupted"


def _interrupt_sweep(tmp_path, method, scenario, fractions, extra=(), baseline=True, fixed_length=None):
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux /proc to see when llmmec's handlers are installed")
    sc = lm.read_scenario(scenario)
    outcomes = []
    base_scr = None
    if baseline:  # an uninterrupted run: its length spreads the signals over the run, its SCR checks the exit-0 files
        path = tmp_path / "baseline.xlsx"
        rc, out, err, length, _ = _run(["solve", "--no-bound", str(scenario), "--method", method, *extra, "-o", str(path)], tmp_path)
        assert rc == 0, err
        base_scr = lm.evaluate(sc, lm.read_solution(path, sc)).scr
    else:
        length = fixed_length
    sigs = (signal.SIGINT, signal.SIGTERM)
    for k, frac in enumerate(fractions):
        sig = sigs[k % 2]
        path = tmp_path / f"out_{k}.xlsx"
        previous = None
        if k % 4 >= 2:  # half of the runs overwrite an existing file: it must stay as it was when interrupted
            previous = f"previous file {k}".encode()
            path.write_bytes(previous)
        rc, out, err, _, sent = _run(["solve", "--no-bound", str(scenario), "--method", method, *extra, "-o", str(path)], tmp_path,
                                     sig=sig, delay=frac * length)
        outcomes.append((round(frac * length, 2), sig.name, _check_outcome(rc, out, err, sig, path, previous, sc, base_scr)))
    return outcomes, length


def test_signals_at_4_points_of_a_dashf_run(tmp_path):
    outcomes, length = _interrupt_sweep(tmp_path, "dashf", DATA / "paper_default.xlsx", (0.02, 0.3, 0.6, 0.85))
    assert sum(o[2] == "interrupted" for o in outcomes) >= 2, (length, outcomes)  # the signals did land in runs


@pytest.mark.slow
def test_signals_at_16_points_of_a_dashf_run(tmp_path):
    fractions = np.linspace(0.0, 1.1, 16)  # from the handlers' installation to past the run's end
    outcomes, length = _interrupt_sweep(tmp_path, "dashf", DATA / "paper_default.xlsx", fractions)
    kinds = [o[2] for o in outcomes]
    assert kinds.count("interrupted") >= 8, (length, outcomes)
    print(f"\nrun length {length:.2f} s after start-up;", outcomes)


def test_signal_during_a_mindtpy_run(tmp_path):
    if not solvers.check_mindtpy().ok:
        pytest.skip("MindtPy is not available: " + solvers.check_mindtpy().detail)
    outcomes, _ = _interrupt_sweep(tmp_path, "mindtpy", DATA / "toy_3x2.xlsx", (1.0,), baseline=False, fixed_length=1.5)
    assert outcomes[0][2] == "interrupted", outcomes  # a toy MindtPy run takes ~4 s after start-up


@pytest.mark.slow
def test_signals_at_4_points_of_a_mindtpy_run(tmp_path):
    if not solvers.check_mindtpy().ok:
        pytest.skip("MindtPy is not available: " + solvers.check_mindtpy().detail)
    outcomes, length = _interrupt_sweep(tmp_path, "mindtpy", DATA / "toy_3x2.xlsx", (0.1, 0.4, 0.7, 0.95))
    assert sum(o[2] == "interrupted" for o in outcomes) >= 2, (length, outcomes)


def test_library_use_argument_error_wrapping_ctrl_c_is_a_keyboard_interrupt():
    """Without the CLI's handlers (a notebook), Ctrl-C during PyNumero's ctypes call is still a KeyboardInterrupt."""
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            raise ctypes.ArgumentError("argument 1: KeyboardInterrupt: ")
    with pytest.raises(ctypes.ArgumentError):
        with interrupts.deferred():
            raise ctypes.ArgumentError("argument 1: TypeError: wrong type")
