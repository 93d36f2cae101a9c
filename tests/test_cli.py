"""The command line: help, one-line errors, --json, python -m, the lock between concurrent runs."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from photoface import api
from photoface.cli import main
from photoface.db import RunLock

from conftest import PHOTOS

PHOTOFACE = [sys.executable, "-m", "photoface"]


def run(*args, **kw):
    return subprocess.run([*PHOTOFACE, *map(str, args)], capture_output=True, text=True, timeout=600, **kw)


def test_help_is_fast_and_does_not_import_tensorflow():
    code = ("import sys, time; t = time.time(); from photoface.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'tensorflow' not in sys.modules and 'dask' not in sys.modules, 'heavy import'\n"
            "print(time.time() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout.strip().splitlines()[-1]) < 1.0


def _commands(group, prefix=()):
    import click

    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_command_and_option_has_help_and_the_readme_shows_every_command(capsys):
    import click

    from photoface.cli import cli

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    commands = list(_commands(cli))
    assert len(commands) >= 25
    for path, command in commands:
        assert (command.help or "").strip(), f"`photoface {' '.join(path)}` has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert (param.help or "").strip(), f"`photoface {' '.join(path)} {param.opts[0]}` has no help"
        if not isinstance(command, click.Group):
            assert f"photoface {' '.join(path)}" in readme, f"`photoface {' '.join(path)}` is not in the README"
            assert main([*path, "--help"]) == 0
            out = capsys.readouterr().out
            assert out.startswith(f"Usage: photoface {' '.join(path)}") and command.help.split("\n")[0][:40] in out
    assert main(["index", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--db", "--workers", "--scheduler", "--device", "--json", "--batch-size", "--retry-failed"):
        assert option in out


@pytest.mark.parametrize("args,words", [
    (["index", "/no/such/folder", "--db", "{tmp}/x.db"], "folder not found"),
    (["index", "{tmp}", "--db", "/no/such/dir/x.db"], "does not exist"),
    (["index", "{tmp}", "--frobnicate"], "No such option"),
    (["index", "{tmp}", "--workers", "0"], "--workers"),
    (["index", "{tmp}", "--device", "tpu"], "--device"),
    (["status", "--db", "{tmp}/none.db"], "no photoface database"),
    (["nonsense"], "No such command"),
])
def test_bad_arguments_get_one_line_and_nonzero_exit(tmp_path, capsys, args, words):
    code = main([a.replace("{tmp}", str(tmp_path)) for a in args])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and err.startswith("photoface: error:") and words in err, err
    assert "Traceback" not in err


def test_unwritable_database_is_a_one_line_error(tmp_path):
    if os.geteuid() == 0:
        db = tmp_path / "a_folder.db"
        db.mkdir()  # even root cannot open a folder as a database
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        db = ro / "x.db"
    result = run("index", PHOTOS, "--db", db, "--scheduler", "sync")
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "photoface: error:" in result.stderr, result.stderr


def test_second_concurrent_run_refuses_clearly(tmp_path):
    db = tmp_path / "lib.db"
    with RunLock(str(db)):  # as if another index run held this database
        result = run("index", PHOTOS, "--db", db, "--scheduler", "sync")
    assert result.returncode == 1
    assert "another photoface index is running" in result.stderr and "pid" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_index_json_and_status_through_python_m(tmp_path, capsys):
    folder = tmp_path / "p"
    folder.mkdir()
    for name in ("astronaut.jpg", "chelsea_cat.jpg"):
        shutil.copy(PHOTOS / name, folder)
    db = tmp_path / "cli.db"
    result = run("index", folder, "--db", db, "--scheduler", "sync", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["photos_indexed"] == 2 and summary["faces_found"] == 1 and summary["photos_failed"] == 0
    assert result.stderr.strip() == ""  # quiet when not attached to a terminal: no bar, no TensorFlow banner
    status = run("status", "--db", db, "--json")
    info = json.loads(status.stdout)
    assert info["faces"] == 1 and info["runs"][-1]["status"] == "completed"
    assert main(["index", str(folder), "--db", str(db), "--scheduler", "sync"]) == 0  # the same, in this process
    out = capsys.readouterr().out
    assert "2 photos seen: 0 indexed, 2 skipped (unchanged)" in out and "photos/s" not in out  # no rate of nothing
    (folder / "bad.jpg").write_text("not a photo")
    assert main(["index", str(folder), "--db", str(db), "--scheduler", "sync"]) == 0
    assert main(["index", str(folder), "--db", str(db), "--scheduler", "sync", "--retry-failed"]) == 0
    out = capsys.readouterr().out
    assert "0 indexed" in out and "1 failed" in out and "photos/s" not in out
    assert main(["status", "--db", str(db)]) == 0
    assert "people: 0 named, 0 unnamed clusters; unknown faces: 1 (`photoface faces`)" in capsys.readouterr().out


def test_progress_bar_when_asked(tmp_path, capsys):
    folder = tmp_path / "p"
    folder.mkdir()
    shutil.copy(PHOTOS / "astronaut.jpg", folder)
    assert main(["index", str(folder), "--db", str(tmp_path / "bar.db"), "--scheduler", "sync", "--progress"]) == 0
    err = capsys.readouterr().err
    assert "indexing" in err and "1/1" in err and "photo" in err and "faces=1" in err, err
    assert "loading the models" in err  # before the first photo, the bar says why it waits
    assert main(["index", str(folder), "--db", str(tmp_path / "bar.db"), "--scheduler", "sync"]) == 0
    assert "indexing" not in capsys.readouterr().err  # not on a terminal: no bar unless asked


def test_ctrl_c_marks_the_run_interrupted_and_the_next_run_completes_it(tmp_path, capsys):
    import signal
    import sqlite3

    folder = tmp_path / "p"
    folder.mkdir()
    for i in range(24):
        shutil.copy(PHOTOS / "obama2.jpg", folder / f"copy{i:02d}.jpg")
    db = tmp_path / "int.db"
    # A shell that starts a job in the background (`cmd &`) makes it ignore SIGINT, and
    # children inherit that; Python then installs no Ctrl-C handler. Restore the default.
    proc = subprocess.Popen([*PHOTOFACE, "index", folder, "--db", db, "--scheduler", "sync", "--batch-size", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while time.time() < deadline:
        time.sleep(0.3)
        if db.exists():
            try:
                if sqlite3.connect(db).execute("SELECT count(*) FROM photos").fetchone()[0] >= 2:
                    break
            except sqlite3.OperationalError:
                pass
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, (proc.returncode, err)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status FROM index_runs").fetchone()[0] == "interrupted"
    capsys.readouterr()
    assert main(["index", str(folder), "--db", str(db), "--scheduler", "sync", "--json"]) == 0  # here: models loaded
    summary = json.loads(capsys.readouterr().out)
    done = conn.execute("SELECT count(*) FROM photos").fetchone()[0]
    assert done == 24 and conn.execute("SELECT count(*) FROM faces").fetchone()[0] == 24
    assert summary["photos_unchanged"] + summary["photos_indexed"] == 24
    assert summary["photos_indexed"] > 0  # the second run did the work the first left undone


def test_gpu_asked_for_without_one_fails_clearly_through_the_cluster(tmp_path, capsys):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    folder = tmp_path / "p"
    folder.mkdir()
    shutil.copy(PHOTOS / "astronaut.jpg", folder)
    started = time.monotonic()
    assert main(["index", str(folder), "--db", str(tmp_path / "g.db"), "--device", "gpu", "--scheduler", "local",
                 "--workers", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no GPU" in err and "Traceback" not in err, err
    assert time.monotonic() - started < 10  # said before a cluster is started
    assert not (tmp_path / "g.db").exists()  # refused before a run was recorded


def test_arguments_that_cannot_work_fail_at_once_and_write_nothing(tmp_path, capsys, monkeypatch):
    import socket

    folder = tmp_path / "p"
    folder.mkdir()
    shutil.copy(PHOTOS / "astronaut.jpg", folder)
    db = tmp_path / "n.db"
    cases = [
        (["index", str(folder), "--db", ""], "--db needs a file name"),
        (["index", str(folder), "--db", str(db), "--scheduler", "tcp://127.0.0.1:1"], "no Dask scheduler answers"),
        (["index", str(folder), "--db", str(db), "--scheduler", "tcp://"], "bad scheduler address"),
    ]
    for args, words in cases:
        started = time.monotonic()
        assert main(args) == 1
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and words in err and time.monotonic() - started < 10, (args, err)
        assert not db.exists() and not list(tmp_path.glob("*.db*")), args
    # a port another server holds
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        api.index(str(folder), str(db), scheduler="sync")
        assert main(["serve", "--db", str(db), "--port", str(taken.getsockname()[1])]) == 1
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and "cannot listen on 127.0.0.1" in err and "--port 0" in err, err
    # a database file this user may not write: changes are refused in one line, reads work
    import photoface.db.lock as lock_module

    real_access = os.access
    monkeypatch.setattr(lock_module.os, "access",
                        lambda p, mode: False if (str(p), mode) == (str(db), os.W_OK) else real_access(p, mode))
    for args in (["name", "1", "X", "--db", str(db)], ["cluster", "--db", str(db)],
                 ["index", str(folder), "--db", str(db)]):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and "is read-only" in err, (args, err)
    assert main(["status", "--db", str(db)]) == 0


def test_face_tags_without_exiftool_say_what_to_install(tmp_path, capsys, monkeypatch):
    import photoface.tags

    db = tmp_path / "e.db"
    api.index(str(tmp_path), str(db), scheduler="sync")
    monkeypatch.setattr(photoface.tags.shutil, "which", lambda name: None)
    for argv in (["tags", "write"], ["tags", "read"]):
        assert main([*argv, "--db", str(db)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "needs ExifTool: install it" in err and "libimage-exiftool-perl" in err


def test_faces_maybe_someone_else_prints_the_questions_and_the_commands_that_answer_them(monkeypatch, capsys):
    """Which faces are asked about is tested on real photos (test_family.py); here the
    command's text and JSON for a question, and for none."""
    from photoface.types import SplitQuestion

    asked = [SplitQuestion(person_id=7, name="Anushka\x1b[31m", faces=99, conductance=0.073, face_ids=[263, 264, 265])]
    monkeypatch.setattr(api, "split_questions", lambda db: asked)
    assert main(["faces", "--maybe-someone-else", "--db", "x.db"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("person 7 (Anushka\\x1b[31m): 3 of 99 faces may be someone else: 263 264 265")
    assert "photoface split 7 263 264 265" in out[1] and "photoface move 263 264 265 --to 7" in out[2]
    assert main(["faces", "--maybe-someone-else", "--json", "--db", "x.db"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["face_ids"] == [263, 264, 265]
    monkeypatch.setattr(api, "split_questions", lambda db: [])
    assert main(["faces", "--maybe-someone-else", "--db", "x.db"]) == 0
    assert capsys.readouterr().out.strip() == "no person's faces look like two people"
