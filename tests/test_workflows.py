"""Every recipe in workflows/ runs as documented on the bundled photos."""
import subprocess
import sys
from pathlib import Path

from conftest import PHOTOS

WORKFLOWS = Path(__file__).parent.parent / "workflows"


def test_index_and_match(tmp_path):
    out = subprocess.run(
        [sys.executable, str(WORKFLOWS / "index_and_match.py"), str(PHOTOS), "--db", str(tmp_path / "w.db"),
         "--scheduler", "sync"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert "indexed 7 photos, 6 new faces" in out.stdout
    matches = out.stdout.split("same person")[1].strip().splitlines()[1:]
    # the four Obama photos pair up with each other (6 pairs) and nobody else does
    assert len(matches) == 6 and all(m.count("obama") == 2 for m in matches), matches
