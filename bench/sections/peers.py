"""Section ``peers``: jobman beside the other Django job systems (``bench.peers``).

It runs in a process of its own, set up with ``bench.peers.settings``: the peers' apps and
settings stay out of every other section.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.common import ROOT, log, process_env
from bench.config import Config
from bench.processes import stop_process
from bench.queueing import Services

PEERS_SETTINGS = {"DJANGO_SETTINGS_MODULE": "bench.peers.settings"}
# A bound for the whole section: every worker run has its own, config.worker_timeout.
SECTION_TIMEOUT = 2 * 3600


def section_peers(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """Every peer installed here, drained by one worker process, rounds interleaved."""
    log("peers")
    config_path, out_path = workdir / "peers-config.json", workdir / "peers-result.json"
    config_path.write_text(json.dumps(asdict(config)))
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.peers.suite", str(config_path), str(out_path)],
        cwd=ROOT,
        env=process_env(PEERS_SETTINGS),
    )
    try:
        code = process.wait(SECTION_TIMEOUT)
    finally:
        stop_process(process, timeout=30)
    if code != 0:
        raise RuntimeError(f"the peers section failed (exit code {code}); see its output above")
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result
