"""``python -m bench``: measure jobman against bare RQ; see ``bench.cli``."""

from __future__ import annotations

from bench.cli import main

raise SystemExit(main())
