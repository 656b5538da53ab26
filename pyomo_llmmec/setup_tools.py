"""Installation helpers used by ``make setup`` (``python -m pyomo_llmmec.setup_tools build-pynumero``).

PyNumero (Pyomo's bridge to cyipopt) needs its ASL library; ``pyomo
build-extensions`` would download ASL, which these machines cannot.  Debian
ships the AMPL solver library (libamplsolver-dev), so we build against it
(see README, "Make targets").  Idempotent: nothing is rebuilt when the library loads.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path


def multiarch() -> str:
    for cmd in (["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], ["gcc", "-print-multiarch"]):
        if shutil.which(cmd[0]):
            out = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
            if out:
                return out
    return sysconfig.get_config_var("MULTIARCH") or ""


def build_pynumero(force: bool = False) -> int:
    from pyomo.contrib.pynumero.asl import AmplInterface

    if AmplInterface.available() and not force:
        print("PyNumero ASL library: present (nothing to build)")
        return 0
    arch = multiarch()
    include = Path("/usr/include/ampl-netlib-solvers")
    lib = Path("/usr/lib") / arch / "libamplsolver.so"
    missing = [str(p) for p in (include, lib) if not p.exists()]
    missing += [t for t in ("cmake", "g++") if not shutil.which(t)]
    if missing:
        print(
            "cannot build PyNumero's ASL library: missing " + ", ".join(missing)
            + ". Install as root: apt-get update && apt-get install -y libamplsolver-dev cmake g++",
            file=sys.stderr,
        )
        return 1
    from pyomo.contrib.pynumero.build import build_pynumero as _build

    _build([f"-DASL_INCLUDE_DIR={include}", f"-DASL_LIBRARY={lib}", "-DBUILD_AMPLASL_IF_NEEDED=OFF"])
    # a fresh process sees the new library
    rc = subprocess.run([sys.executable, "-c", "from pyomo.contrib.pynumero.asl import AmplInterface as A; raise SystemExit(0 if A.available() else 1)"]).returncode
    print("PyNumero ASL library: built" if rc == 0 else "PyNumero ASL library: built but does not load", file=sys.stderr if rc else sys.stdout)
    return rc


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["build-pynumero"]:
        return build_pynumero(force="--force" in argv)
    print("usage: python -m pyomo_llmmec.setup_tools build-pynumero [--force]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
