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
    assert "indexed 7 photos, 6 new faces" in out.stdout  # one in each photo but the cat
    matches = out.stdout.split("same person")[1].strip().splitlines()[1:]
    # the four Obama photos pair up with each other (6 pairs) and nobody else does
    assert len(matches) == 6 and all(m.count("obama") == 2 for m in matches), matches


def test_people_from_gallery(tmp_path):
    from PIL import Image, ImageOps

    known = tmp_path / "known" / "Barack Obama"
    known.mkdir(parents=True)
    im = ImageOps.mirror(Image.open(PHOTOS / "obama3.jpg").convert("RGB"))
    im.resize((im.width * 3 // 4, im.height * 3 // 4)).save(known / "portrait.jpg")
    out = subprocess.run(
        [sys.executable, str(WORKFLOWS / "people_from_gallery.py"), str(PHOTOS), "--gallery", str(tmp_path / "known"),
         "--db", str(tmp_path / "w.db"), "--scheduler", "sync"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    named = out.stdout.split("Barack Obama:")[1].splitlines()
    listed = [line.strip() for line in named[1:] if line.startswith("  ")]
    # Obama's clustered photos, and nobody else's
    assert len(listed) >= 3 and all("obama" in Path(p).name for p in listed), out.stdout
