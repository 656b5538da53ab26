"""``python -m pyomo_llmmec`` is the ``llmmec`` command."""

from .cli import main

raise SystemExit(main())
