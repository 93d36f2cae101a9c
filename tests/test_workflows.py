"""Every recipe in workflows/ runs as documented on the bundled photos (in this process, through
the script's own main(), so the models this test process has loaded serve it)."""
import runpy
from pathlib import Path

from conftest import PHOTOS

WORKFLOWS = Path(__file__).parent.parent / "workflows"


def run(script: str, *args, capsys):
    main = runpy.run_path(str(WORKFLOWS / script), run_name="workflow")["main"]
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_index_and_match(tmp_path, capsys):
    out = run("index_and_match.py", PHOTOS, "--db", tmp_path / "w.db", "--scheduler", "sync", capsys=capsys)
    assert "indexed 7 photos, 6 new faces" in out  # one in each photo but the cat
    matches = out.split("same person")[1].strip().splitlines()[1:]
    # the four Obama photos pair up with each other (6 pairs) and nobody else does
    assert len(matches) == 6 and all(m.count("obama") == 2 for m in matches), matches


def test_people_from_gallery(tmp_path, capsys):
    from PIL import Image, ImageOps

    known = tmp_path / "known" / "Barack Obama"
    known.mkdir(parents=True)
    im = ImageOps.mirror(Image.open(PHOTOS / "obama3.jpg").convert("RGB"))
    im.resize((im.width * 3 // 4, im.height * 3 // 4)).save(known / "portrait.jpg")
    out = run("people_from_gallery.py", PHOTOS, "--gallery", tmp_path / "known", "--db", tmp_path / "w.db",
              "--scheduler", "sync", capsys=capsys)
    named = out.split("Barack Obama:")[1].splitlines()
    listed = [line.strip() for line in named[1:] if line.startswith("  ")]
    # Obama's clustered photos, and nobody else's
    assert len(listed) >= 3 and all("obama" in Path(p).name for p in listed), out
