"""scan: recursive, by content and extension, hidden files skipped, symlink loops walked once."""
import os

from photoface.scan import scan, sniff_image

from conftest import PHOTOS


def names(root, **kw):
    return sorted(os.path.relpath(item.path, root) for item in scan(str(root), **kw))


def test_scan_recursive_by_content_and_extension(tmp_path):
    jpeg = (PHOTOS / "astronaut.jpg").read_bytes()
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.JPG").write_bytes(jpeg)
    (tmp_path / "no_extension").write_bytes(jpeg)  # an image by content
    (tmp_path / "fake.png").write_text("text")  # an image by name: scanned, fails later with an error
    (tmp_path / "notes.txt").write_text("text")
    (tmp_path / ".hidden.jpg").write_bytes(jpeg)
    (tmp_path / ".thumbnails").mkdir()
    (tmp_path / ".thumbnails" / "t.jpg").write_bytes(jpeg)
    assert names(tmp_path) == ["a/b/deep.JPG", "fake.png", "no_extension"]


def test_scan_survives_symlink_loops(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes((PHOTOS / "astronaut.jpg").read_bytes())
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    os.symlink(tmp_path / "a", tmp_path / "link_to_a")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling.jpg")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling.txt")
    assert names(tmp_path) == ["a/x.jpg", "dangling.jpg"]  # a photo's name that leads nowhere is reported
    problems = {os.path.basename(i.path): i.problem for i in scan(str(tmp_path))}
    assert problems == {"x.jpg": None, "dangling.jpg": "a broken symbolic link (its target does not exist)"}


def test_unreadable_folder_is_reported_not_fatal(tmp_path):
    if os.geteuid() == 0:
        # root reads everything; simulate with a folder that disappears instead
        missing = tmp_path / "gone"
        errors = []
        assert list(scan(str(missing), errors=errors)) == []
        assert errors and "cannot" in errors[0][1]
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    errors = []
    try:
        assert names(tmp_path, errors=errors) == []
    finally:
        locked.chmod(0o755)
    assert errors


def test_sniff_image_formats():
    assert sniff_image(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff_image(b"\x89PNG\r\n\x1a\n") == "png"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff_image(b"\x00\x00\x00\x18ftypheic") == "heif"
    assert sniff_image(b"GIF89a") == "gif"
    assert sniff_image(b"II*\x00") == "tiff"
    assert sniff_image(b"hello world!") is None
