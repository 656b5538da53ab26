"""The documentation is self-contained and agrees with the code.

* every section citation (``MODEL.md`` followed by a section sign and a number, and
  every bare section sign with a number — all of them refer to docs/MODEL.md) in
  the code, tests, benchmarks, examples and docs names a heading of docs/MODEL.md;
* docs/MODEL.md keeps the section numbering the code relies on;
* no text file of the repository points outside it;
* every relative Markdown link in README.md, docs/*.md, benchmarks/README.md and
  data/README.md resolves to a file (and, for a ``.md#anchor`` link, to a heading);
* every ``file: component`` pair cited in docs/EQUATIONS.md is declared in that file.

The checkers are plain functions; the ``test_checker_*`` tests feed them bad input
to show that they can fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "docs" / "MODEL.md"
EQUATIONS = ROOT / "docs" / "EQUATIONS.md"
THIS = Path(__file__).resolve()

SECTION = "\u00a7"  # the section sign, spelled out so that this file cites no section itself
SECTION_REF = re.compile(SECTION + r"(\d+(?:\.\d+)*)")
MODEL_CITATION = re.compile(r"MODEL\.md\s*" + SECTION + r"(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")

CITING_DIRS = ("pyomo_llmmec", "tests", "benchmarks", "examples", "docs", "scripts", "data")
CITING_FILES = ("README.md",)
TEXT_SUFFIXES = {".py", ".md", ".cfg", ".toml", ".sh", ".ipynb", ".txt", ".yml", ".yaml", ".json", ".csv", ".ini"}
TEXT_NAMES = {"Makefile", ".gitignore"}
SKIP_DIRS = {".venv", ".git", "__pycache__", ".pytest_cache", "build"}
# written so that this file does not contain the strings it forbids
OUTSIDE = ("..".strip() + "/shared", "/" + "work/")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _walk(root: Path):
    for p in sorted(root.rglob("*")):
        if p.is_file() and not (set(p.relative_to(ROOT).parts) & SKIP_DIRS):
            yield p


def _is_text(p: Path) -> bool:
    if p.suffix in TEXT_SUFFIXES or p.name in TEXT_NAMES:
        return True
    if p.suffix == "":
        try:
            with p.open("rb") as fh:
                return fh.read(2) == b"#!"  # scripts such as .ci/run
        except OSError:
            return False
    return False


def repo_text_files() -> list[Path]:
    """The repository's text files: git's tracked and untracked-but-not-ignored files, else a walk."""
    files = None
    if shutil.which("git") and (ROOT / ".git").exists():
        res = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                             cwd=ROOT, capture_output=True, check=False)
        if res.returncode == 0:
            files = [ROOT / f for f in res.stdout.decode().split("\0") if f]
    if files is None:
        files = list(_walk(ROOT))
    out = []
    for p in files:
        if p.is_file() and not (set(p.relative_to(ROOT).parts) & SKIP_DIRS) and _is_text(p):
            out.append(p)
    return sorted(set(out))


def citing_files() -> list[Path]:
    files = [ROOT / f for f in CITING_FILES]
    for d in CITING_DIRS:
        files += [p for p in _walk(ROOT / d) if _is_text(p)]
    return sorted(p for p in set(files) if p.exists() and p.resolve() != THIS)


def model_sections(text: str) -> list[str]:
    """Section numbers of the headings of MODEL.md ('## §5.1 Title' -> '5.1'), in order."""
    out = []
    for line in text.splitlines():
        h = HEADING.match(line)
        if h:
            s = re.match(SECTION + r"(\d+(?:\.\d+)*)\b", h.group(2))
            if s:
                out.append(s.group(1))
    return out


def unresolved_citations(text: str, sections) -> list[str]:
    """Section numbers cited in ``text`` (with or without the 'MODEL.md' prefix) that are not headings."""
    known = set(sections)
    return [n for n in SECTION_REF.findall(text) if n not in known]


def github_slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation and symbols dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).strip().lower()
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "-_ " or cat[0] in "LN" or cat[0] == "M":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def anchors(md_text: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in md_text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        h = None if in_code else HEADING.match(line)
        if h:
            slug = github_slug(h.group(2))
            k = seen.get(slug, 0)
            out.add(slug if k == 0 else f"{slug}-{k}")
            seen[slug] = k + 1
    return out


LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _strip_code(md_text: str) -> str:
    """Markdown without fenced code blocks and inline code (links there are not links)."""
    md_text = re.sub(r"```.*?```", "", md_text, flags=re.S)
    return re.sub(r"`[^`\n]*`", "", md_text)


def broken_links(md_file: Path, md_text: str | None = None) -> list[str]:
    """Relative links of a Markdown file whose target (or .md anchor) does not exist."""
    text = md_file.read_text(encoding="utf-8") if md_text is None else md_text
    bad = []
    for _label, target in LINK.findall(_strip_code(text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
            continue  # http:, https:, mailto:
        path, _, frag = target.partition("#")
        dest = md_file if not path else (md_file.parent / path)
        if not dest.exists():
            bad.append(target)
            continue
        if frag and dest.suffix == ".md" and frag not in anchors(dest.read_text(encoding="utf-8")):
            bad.append(target)
    return bad


PY_LINK = re.compile(r"\[[^\]]*\]\(([^)\s#]+\.py)\)")


def equation_citations(md_file: Path, md_text: str | None = None) -> list[tuple[Path, str]]:
    """(file, name) for every `name` that follows a link to a .py file in a table cell of ``md_file``."""
    text = md_file.read_text(encoding="utf-8") if md_text is None else md_text
    out = []
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            continue
        for cell in line.strip().strip("|").split("|"):
            links = list(PY_LINK.finditer(cell))
            for i, lk in enumerate(links):
                end = links[i + 1].start() if i + 1 < len(links) else len(cell)
                segment = cell[lk.end():end]
                target = (md_file.parent / lk.group(1)).resolve()
                for name in re.findall(r"`([^`]+)`", segment):
                    out.append((target, name))
    return out


def declared(name: str, source: str) -> bool:
    """Is ``name`` declared in ``source``: a model component, attribute, function, class or assigned name?"""
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        return False
    n = re.escape(name)
    patterns = (
        rf"\bm\.{n}\s*=(?!=)",  # Pyomo component on the model m
        rf"\bself\.{n}\s*=(?!=)",  # attribute
        rf"^\s*(?:async\s+)?def\s+{n}\b",
        rf"^\s*class\s+{n}\b",
        rf"^\s*(?:[A-Za-z_]\w*\s*,\s*)*{n}\s*(?:,\s*[A-Za-z_]\w*\s*)*(?::[^=\n]+)?=(?!=)",  # (tuple) assignment
        rf"add_component\(\s*[\"']{n}[\"']",
        rf"for\s+\w+\s+in\s+\([^)]*[\"']{n}[\"']",  # names looped over add_component
    )
    return any(re.search(p, source, re.M) for p in patterns)


# ---------------------------------------------------------------------------------------------
# (a) section citations resolve
# ---------------------------------------------------------------------------------------------


def test_model_md_exists_with_the_sections_the_code_uses():
    sections = model_sections(MODEL.read_text(encoding="utf-8"))
    top = [s for s in sections if "." not in s]
    assert top[:9] == [str(i) for i in range(1, 10)], top  # §1..§9 in order (more may follow)
    for sub in ("3.1", "3.2", "3.3", "3.4", "5.1", "5.2", "5.3", "8.1", "8.2", "8.3"):
        assert sub in sections, sub
    key = lambda s: tuple(int(p) for p in s.split("."))  # noqa: E731
    assert sections == sorted(sections, key=key) and len(set(sections)) == len(sections), sections


def test_model_md_sections_keep_their_meaning():
    """The code's citations rely on what each section is about (the reference numbering)."""
    titles = {}
    for line in MODEL.read_text(encoding="utf-8").splitlines():
        h = HEADING.match(line)
        m = h and re.match(SECTION + r"(\d+(?:\.\d+)*)\s+(.*)", h.group(2))
        if m:
            titles[m.group(1)] = m.group(2).lower()
    expect = {"1": "sets", "2": "variables", "3": "delay", "4": "(3)", "5": "dashf", "5.1": "part 1",
              "5.2": "part 2", "5.3": "monoton", "6": "baselines", "7": "default scenario", "8": "workbook",
              "9": "numerics"}
    for sec, word in expect.items():
        assert word in titles.get(sec, ""), (sec, titles.get(sec))


def test_every_section_citation_resolves():
    sections = model_sections(MODEL.read_text(encoding="utf-8"))
    bad, n_model, n_all = [], 0, 0
    for p in citing_files():
        text = p.read_text(encoding="utf-8", errors="replace")
        n_model += len(MODEL_CITATION.findall(text))
        n_all += len(SECTION_REF.findall(text))
        bad += [f"{p.relative_to(ROOT)}: {SECTION}{n}" for n in unresolved_citations(text, sections)]
    assert not bad, "citations of sections that docs/MODEL.md does not have:\n" + "\n".join(bad)
    assert n_model >= 40, n_model  # the code cites MODEL.md throughout; a collapse means the scan broke
    assert n_all >= n_model


def test_checker_rejects_a_bad_citation():
    sections = model_sections(MODEL.read_text(encoding="utf-8"))
    assert unresolved_citations(f"see MODEL.md {SECTION}4 and {SECTION}5.1", sections) == []
    assert unresolved_citations(f"see MODEL.md {SECTION}5.9 (and {SECTION}42)", sections) == ["5.9", "42"]
    assert unresolved_citations(f"MODEL.md {SECTION}3. Rates", sections) == []  # a full stop is not a subsection


# ---------------------------------------------------------------------------------------------
# (b) nothing points outside the repository
# ---------------------------------------------------------------------------------------------


def outside_references(text: str) -> list[str]:
    return [s for s in OUTSIDE if s in text]


def test_no_file_points_outside_the_repository():
    files = repo_text_files()
    assert any(p.name == "MODEL.md" for p in files) and any(p.suffix == ".py" for p in files)
    bad = []
    for p in files:
        if p.resolve() == THIS:
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        for s in outside_references(text):
            line = next(i for i, ln in enumerate(text.splitlines(), 1) if s in ln)
            bad.append(f"{p.relative_to(ROOT)}:{line}: {s}")
    assert not bad, "references to files outside the repository:\n" + "\n".join(bad)


def test_checker_rejects_an_outside_reference():
    assert outside_references("The mathematics is `" + OUTSIDE[0] + "/MODEL.md`") == [OUTSIDE[0]]
    assert outside_references("open(" + repr(OUTSIDE[1] + "main/x") + ")") == [OUTSIDE[1]]
    assert outside_references("docs/MODEL.md " + SECTION + "1") == []


# ---------------------------------------------------------------------------------------------
# (c) relative Markdown links resolve
# ---------------------------------------------------------------------------------------------


def markdown_docs() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", ROOT / "data" / "README.md"]
    files += sorted((ROOT / "docs").glob("*.md"))
    return [p for p in files if p.exists()]


def test_relative_markdown_links_resolve():
    bad = []
    for p in markdown_docs():
        bad += [f"{p.relative_to(ROOT)}: {t}" for t in broken_links(p)]
    assert not bad, "broken relative links:\n" + "\n".join(bad)


def test_readme_leads_to_the_model():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/MODEL.md" in text and "docs/EQUATIONS.md" in text
    assert text.index("docs/MODEL.md") < text.index("docs/EQUATIONS.md")


def test_checker_rejects_a_broken_link():
    fake = ROOT / "docs" / "virtual.md"  # never written: the text is passed in
    assert broken_links(fake, "[m](MODEL.md) [e](https://example.org/x.md) [c](../pyomo_llmmec/model/full.py)") == []
    assert broken_links(fake, "[x](NO_SUCH_FILE.md) and `[y](also_not.md)` in code") == ["NO_SUCH_FILE.md"]
    assert broken_links(fake, "[d](DESIGN.md#results) [bad](DESIGN.md#no-such-heading)") == ["DESIGN.md#no-such-heading"]
    assert github_slug(SECTION + "5.1 AO part 1: association (x, φ, T)") == "51-ao-part-1-association-x-φ-t"


# ---------------------------------------------------------------------------------------------
# (d) the components cited in docs/EQUATIONS.md exist
# ---------------------------------------------------------------------------------------------


def test_equations_md_components_exist():
    cites = equation_citations(EQUATIONS)
    assert len(cites) >= 100, len(cites)
    files = {f for f, _ in cites}
    for model in ("full.py", "association.py", "sdr.py", "resources.py", "global_model.py"):
        assert any(f.name == model for f in files), model
    assert any(f.name == "solution.py" for f in files) and any(f.parent.name == "tests" for f in files)
    bad = []
    cache: dict[Path, str] = {}
    for f, name in cites:
        if not f.exists():
            bad.append(f"{f}: no such file")
            continue
        src = cache.setdefault(f, f.read_text(encoding="utf-8"))
        if not declared(name, src):
            bad.append(f"{f.relative_to(ROOT)}: {name}")
    assert not bad, "names cited in docs/EQUATIONS.md that their file does not declare:\n" + "\n".join(sorted(set(bad)))


def test_equations_md_covers_every_equation():
    text = EQUATIONS.read_text(encoding="utf-8")
    rows = [ln.split("|")[1].strip() for ln in text.splitlines() if ln.startswith("| ")]
    need = ["rates", "T1", "T2", "T3", "T4", "E1", "E2", "E3", "E4", "(1)", "(2)", "(3)"]
    need += [f"(3{c})" for c in "abcdefghij"]
    need += ["(6)", "A_n", "B_nm", "G_nm", "MILP linearisation", "SDR lift (7)→(8)", "(11)", "(12)"]
    missing = [e for e in need if e not in rows]
    assert not missing, missing


def test_checker_rejects_a_missing_component():
    src = (ROOT / "pyomo_llmmec" / "model" / "full.py").read_text(encoding="utf-8")
    for name in ("rate_up", "delay", "bandwidth_budget", "build_model", "positive_floor", "energy"):
        assert declared(name, src), name
    for name in ("rate_upp", "no_such_component", "delay_constraint", "m.delay"):
        assert not declared(name, src), name
    fake = ROOT / "docs" / "virtual.md"
    row = "| (3j) | x | [model/full.py](../pyomo_llmmec/model/full.py): `delay`, `nope`<br>[solution.py](../pyomo_llmmec/solution.py): `t1` |"
    cites = [(f.name, n) for f, n in equation_citations(fake, row)]
    assert cites == [("full.py", "delay"), ("full.py", "nope"), ("solution.py", "t1")]
