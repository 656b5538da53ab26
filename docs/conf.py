"""Sphinx configuration of the pyomo_llmmec documentation site (``make docs``; issue 15).

Markdown pages through myst-parser, tutorials as notebooks executed at build
time through myst-nb, the API reference from the numpydoc-style docstrings
(autodoc + numpydoc) and the CLI reference from ``pyomo_llmmec.cli.build_parser``
(sphinx-argparse).  Built with warnings as errors: ``sphinx-build -W --keep-going``.
"""

import argparse
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # cli.md's argparse directive imports cli_parser from here

import pyomo_llmmec  # noqa: E402

project = "pyomo_llmmec"
author = "the pyomo_llmmec authors"
copyright = "the pyomo_llmmec authors, BSD-3-Clause"
version = release = pyomo_llmmec.__version__

extensions = [
    "myst_nb",  # includes myst_parser: .md pages and .ipynb notebooks
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinxarg.ext",
    "sphinx.ext.mathjax",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "figures/README.md", "**.ipynb_checkpoints", "jupyter_execute"]

# -- Markdown -------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 4  # `MODEL.md#section` links, as on the repository's web view
# Links from the markdown pages to source files (`../pyomo_llmmec/model/full.py`) and folders are not pages of
# the site: MyST cannot resolve them as cross-references.  tests/test_docs.py checks that each of those links
# points at a file of the repository.
suppress_warnings = ["myst.xref_missing"]
myst_ref_domains = ["std", "py"]  # markdown links resolve as pages, labels and Python objects only

# -- notebooks: executed at every build, an error in a cell fails the build --------------------
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 600
nb_execution_show_tb = True
nb_merge_streams = True

# -- API reference ---------------------------------------------------------------------------
autodoc_default_options = {"show-inheritance": False}  # api.md names the members it documents
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

# -- HTML ---------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"pyomo_llmmec {release}"
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "navbar_align": "left",
}
html_static_path = []


def cli_parser() -> argparse.ArgumentParser:
    """``pyomo_llmmec.cli.build_parser()`` with every epilog as a literal block, for cli.md.

    The epilogs are plain text laid out for a terminal (``tasks/*.json``, aligned
    columns); sphinx-argparse would read them as reStructuredText.
    """
    from pyomo_llmmec.cli import build_parser

    def literal(parser):
        if parser.epilog:
            parser.epilog = "::\n\n" + textwrap.indent(parser.epilog, "    ")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    literal(sub)

    parser = build_parser()
    literal(parser)
    return parser
