"""The index over a real dask.distributed deployment on separate hosts (a scheduler host
and two worker hosts as network namespaces: benchmarks/distributed_hosts.py) writes the
same database as one process. Runs where network namespaces can be made (root, iproute2,
CAP_NET_ADMIN); skipped with the reason elsewhere."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PHOTOS

ROOT = Path(__file__).resolve().parent.parent


def _netns_allowed() -> str | None:
    if os.geteuid() != 0:
        return "needs root for ip netns"
    if not shutil.which("ip"):
        return "needs iproute2 (ip)"
    probe = subprocess.run(["ip", "netns", "add", "pf-probe"], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", "pf-probe"], capture_output=True)
    return None if probe.returncode == 0 else f"cannot make a network namespace here: {probe.stderr.strip()}"


@pytest.mark.slow
def test_index_over_three_hosts_equals_one_process():
    reason = _netns_allowed()
    if reason:
        pytest.skip(reason)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "distributed_hosts.py"), str(PHOTOS)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "same photos, faces and boxes: True" in done.stdout
    assert "workers ['pf-worker1', 'pf-worker2']" in done.stdout
