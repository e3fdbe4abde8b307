"""The measured sections of a suite run, by name, in the order they run and are listed.

Each section is a function of the services, the config and a scratch directory that
returns its figures as JSON-ready data.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.config import Config
from bench.queueing import Services
from bench.sections.counts import section_counts
from bench.sections.dispatch import section_dispatch
from bench.sections.memory import section_memory
from bench.sections.million import section_million
from bench.sections.peers import section_peers
from bench.sections.profiles import section_profile
from bench.sections.reconnect import section_reconnect
from bench.sections.whatif import section_whatif
from bench.sections.workers import section_failing, section_scaling, section_workers

Section = Callable[[Services, Config, Path], dict[str, Any]]

SECTIONS: dict[str, Section] = {
    "reconnect": section_reconnect,
    "dispatch": section_dispatch,
    "workers": section_workers,
    "scaling": section_scaling,
    "failing": section_failing,
    "whatif": section_whatif,
    "counts": section_counts,
    "memory": section_memory,
    "million": section_million,
    "peers": section_peers,
    "profile": section_profile,
}
# What runs without --sections: everything but the py-spy profiles and the scaling curve.
DEFAULT_SECTIONS = [name for name in SECTIONS if name not in ("profile", "scaling")]
