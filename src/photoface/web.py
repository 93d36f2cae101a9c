"""`photoface serve`: review and name people in the browser.

Server-rendered pages (Flask + Jinja2, which escapes every value) with a little JavaScript
for keyboard review. Every read and every change goes through photoface.api, so the
browser and the CLI share operations and the undo log. Safety: binds 127.0.0.1 unless
told otherwise; images are served by database id only (never a path from a request);
every change is a POST carrying a per-server token and, when the browser sends one, an
Origin of this server; ``read_only`` refuses every change.
"""
from __future__ import annotations

import hmac
import secrets
import socket
import tempfile
from urllib.parse import urlparse, urlsplit

from flask import Flask, Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.routing import BaseConverter
from werkzeug.serving import WSGIRequestHandler

from . import api
from .errors import InputError, NameConflict, PhotofaceError

PEOPLE_PER_PAGE = 60
FACES_PER_PAGE = 120
UNKNOWN_PER_PAGE = 120
PHOTOS_PER_PAGE = 120
#: The highest page number a request may ask for (any page past the last is empty).
MAX_PAGE = 10**6
#: Names this machine answers to on its loopback interface.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
QUEUED = ("the library is busy (an index or clustering run): your change is saved and will be applied "
          "as soon as the run ends")
#: POSTs that only read: allowed on a read-only server.
READING_POSTS = ("search_face",)


class IdConverter(BaseConverter):
    """A database id in a URL: at most 18 digits, so always one of SQLite's integers; a longer
    number matches no page (404)."""

    regex = r"\d{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(int(value))


def allowed_hosts(host: str, extra=()) -> set[str]:
    """The host names a server bound to ``host`` answers to: its loopback names, ``host``
    itself, and for a wildcard address this machine's names and addresses. Anything else in
    a request's Host header is refused, so a web page elsewhere cannot reach the library
    through a name it controls (DNS rebinding)."""
    names = {*LOOPBACK_NAMES, host.strip("[]").lower(), *(e.lower() for e in extra)}
    if host in ("0.0.0.0", "::", ""):
        me = socket.gethostname()
        names |= {me.lower(), socket.getfqdn().lower()}
        try:
            names |= {info[4][0].lower() for info in socket.getaddrinfo(me, None)}
        except OSError:
            pass
    return names


def create_app(db: str, read_only: bool = False, hosts: set[str] | None = None) -> Flask:
    """The web app over library ``db``; ``hosts``: the Host names it answers to (loopback names by default)."""
    app = Flask(__name__)
    app.url_map.converters["id"] = IdConverter
    app.secret_key = secrets.token_bytes(32)
    app.config.update(DB=db, READ_ONLY=read_only, CSRF=secrets.token_urlsafe(32),
                      MAX_CONTENT_LENGTH=40 * 1024 * 1024,
                      SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_HTTPONLY=True)
    hosts = {h.lower() for h in (hosts or LOOPBACK_NAMES)}

    @app.template_filter("clock")
    def _clock(seconds) -> str:
        """Seconds into a video as m:ss.s."""
        m, sec = divmod(float(seconds or 0), 60)
        return f"{int(m)}:{sec:04.1f}"

    @app.context_processor
    def _globals():
        return {"csrf": app.config["CSRF"], "read_only": read_only}

    @app.before_request
    def _guard():
        if (urlsplit("//" + request.host).hostname or "") not in hosts:
            abort(400, "unknown host: open the address photoface serve printed")
        if request.method != "POST":
            if not read_only and request.endpoint not in ("face_img", "photo_img", "frame_img", "static"):
                api.apply_waiting(db)  # changes saved while a run held the library, now that it may be free
            return None
        if read_only and request.endpoint not in READING_POSTS:
            abort(403, "this server is read-only (photoface serve --read-only)")
        origin = request.headers.get("Origin")
        if origin and urlparse(origin).netloc != request.host:
            abort(403, "cross-site request refused")
        token = request.form.get("csrf") or request.headers.get("X-CSRF-Token") or ""
        if not hmac.compare_digest(token, app.config["CSRF"]):
            abort(403, "missing or wrong form token: reload the page")
        return None

    @app.after_request
    def _headers(resp: Response):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                                "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
        return resp

    @app.errorhandler(NameConflict)
    def _name_conflict(exc):
        """Ask before a name merges two people or a near miss of a name makes a new one: the
        same form again, with the user's answer."""
        if request.method != "POST":
            return _input_error(exc)
        pid = request.view_args.get("pid") if request.view_args else None
        people = [api.person_page(db, str(i), limit=6) for i, _ in exc.people]
        this = api.person_page(db, str(pid), limit=6) if pid is not None else None
        faces = [int(x) for x in request.form.getlist("face") if x.isdigit() and len(x) <= 18][:12]
        fields = [(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf", "confirm")]
        if request.form.get("action"):
            fields.append(("action", request.form["action"]))
        return render_template("confirm.html", conflict=exc, people=people, this=this, faces=faces,
                               drawn=bool(request.form.get("x1")),
                               fields=fields, typed=request.form.get("name") or request.form.get("to", ""),
                               action=request.path, back=_back()), 409

    @app.errorhandler(InputError)
    def _input_error(exc):
        if request.method == "POST":
            flash(str(exc), "error")
            return redirect(_back())
        return render_template("error.html", message=str(exc)), 404

    @app.errorhandler(PhotofaceError)
    def _library_error(exc):  # the library cannot be read or written now: say so, never a bare 500
        if request.method == "POST":
            flash(str(exc), "error")
            return redirect(_back())
        return render_template("error.html", message=str(exc)), 503

    def _back(default: str = "people") -> str:
        ref = request.form.get("next") or request.referrer or ""
        parsed = urlparse(ref)
        if ref and (not parsed.netloc or parsed.netloc == request.host) and parsed.path.startswith("/"):
            return parsed.path + (f"?{parsed.query}" if parsed.query else "") + (f"#{parsed.fragment}" if parsed.fragment else "")
        return url_for(default)

    def _page() -> int:
        return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)

    def _done(message: str):
        flash(message, "ok")
        return redirect(_back())

    def _change(fn, *args, **kwargs) -> dict | None:
        """Make a change; while an index or cluster run holds the library it is saved and
        applied when the run ends (None, with a message saying so)."""
        out = fn(db, *args, queue_if_busy=True, **kwargs)
        if "queued" in out:
            flash(QUEUED, "ok")
            return None
        return out

    # --- pages -------------------------------------------------------------------------
    @app.get("/")
    def index():
        return redirect(url_for("people"))

    @app.get("/people")
    def people():
        page = _page()
        data = api.people_page(db, offset=(page - 1) * PEOPLE_PER_PAGE, limit=PEOPLE_PER_PAGE)
        return render_template("people.html", data=data, page=page,
                               pages=max(1, -(-data["total"] // PEOPLE_PER_PAGE)))

    @app.get("/person/<id:pid>")
    def person(pid: int):
        page = _page()
        p = api.person_page(db, str(pid), offset=(page - 1) * FACES_PER_PAGE, limit=FACES_PER_PAGE)
        return render_template("person.html", p=p, page=page, similar=api.similar_people(db, str(pid)),
                               question=next(iter(api.split_questions(db, str(pid))), None),
                               pages=max(1, -(-p.total_faces // FACES_PER_PAGE)))

    @app.get("/unknown")
    def unknown():
        page, ignored = _page(), bool(request.args.get("ignored"))
        data = api.unknown_faces(db, offset=(page - 1) * UNKNOWN_PER_PAGE, limit=UNKNOWN_PER_PAGE, ignored=ignored)
        groups: list[list[dict]] = []
        for f in data["faces"]:
            if not groups or groups[-1][0]["group"] != f["group"]:
                groups.append([])
            groups[-1].append(f)
        names = api.names(db)
        return render_template("unknown.html", data=data, groups=groups, ignored=ignored, names=names, page=page,
                               pages=max(1, -(-data["total"] // UNKNOWN_PER_PAGE)))

    @app.get("/review")
    def review():
        return render_template("review.html", queue=api.review_queue(db, limit=60), questions=api.split_questions(db))

    @app.get("/photo/<id:photo_id>")
    def photo(photo_id: int):
        return render_template("photo.html", photo=api.photo(db, photo_id))

    @app.get("/search")
    def search():
        args = {k: request.args.get(k, "").strip() for k in ("people", "any", "none", "after", "before")}
        only = bool(request.args.get("only"))
        results, asked = None, any(args.values())
        if asked:
            split = lambda text: [x.strip() for x in text.split(",") if x.strip()]  # noqa: E731
            try:
                results = api.search(db, split(args["people"]), any_of=split(args["any"]),
                                     none_of=split(args["none"]), only=only,
                                     after=args["after"] or None, before=args["before"] or None)
            except InputError as exc:
                flash(str(exc), "error")
        page, total = _page(), len(results or ())
        shown = results[(page - 1) * PHOTOS_PER_PAGE:page * PHOTOS_PER_PAGE] if results else results
        return render_template("search.html", args=args, only=only, results=shown, total=total, faces=None,
                               page=page, pages=max(1, -(-total // PHOTOS_PER_PAGE)), query=request.args.to_dict())

    @app.post("/search/face")
    def search_face():
        upload = request.files.get("photo")
        if upload is None or not upload.filename:
            flash("choose a photo with a face to search for", "error")
            return redirect(url_for("search"))
        with tempfile.NamedTemporaryFile(suffix=".jpg") as tmp:
            upload.save(tmp.name)
            try:
                faces = api.search_face(db, tmp.name, limit=40)
            except InputError as exc:  # said of the upload, not of the server's temporary file
                flash(str(exc).replace(tmp.name, "the uploaded photo"), "error")
                return redirect(url_for("search"))
        return render_template("search.html", args={}, only=False, results=None, faces=faces)

    @app.get("/status")
    def status():
        return render_template("status.html", status=api.status(db), history=api.history(db, 20),
                               failed=api.failed_photos(db))

    # --- images: by database id only ---------------------------------------------------
    def _jpeg(make, key: int):
        try:
            data = make(db, key)
        except (OSError, PhotofaceError):  # unknown id, or the photo moved or became unreadable since indexing
            abort(404)
        resp = Response(data, mimetype="image/jpeg")
        resp.headers["Cache-Control"] = "private, max-age=86400"
        return resp

    @app.get("/img/face/<id:face_id>.jpg")
    def face_img(face_id: int):
        return _jpeg(api.face_image, face_id)

    @app.get("/img/frame/<id:face_id>.jpg")
    def frame_img(face_id: int):
        return _jpeg(lambda db, key: api.face_image(db, key, frame=True), face_id)

    @app.get("/img/photo/<id:photo_id>.jpg")
    def photo_img(photo_id: int):
        return _jpeg(api.photo_image, photo_id)

    # --- changes (POST only) -----------------------------------------------------------
    @app.post("/person/<id:pid>/name")
    def name(pid: int):
        new = request.form.get("name", "").strip()
        if not new:
            raise InputError("a name cannot be empty")
        confirm = request.form.get("confirm", "")
        if not confirm:  # asked before the change is made or saved for later
            api.check_name(db, str(pid), new)
        out = _change(api.name, str(pid), new, confirm_merge=confirm == "merge", as_new=confirm == "new")
        if not out:
            return redirect(_back())
        if out.get("merged"):
            flash(f"merged into {out['name']}: {out['moved']} faces moved", "ok")
            return redirect(url_for("person", pid=out["person"]))
        return _done(f"named {out['name']}")

    @app.post("/person/<id:pid>/merge")
    def merge(pid: int):
        other = request.form.get("other", "").strip()
        if not other:
            raise InputError("choose the person to merge into this one")
        return _done("merged") if _change(api.merge, str(pid), other) else redirect(_back())

    @app.post("/person/<id:pid>/hide")
    def hide(pid: int):
        hidden = request.form.get("hidden", "1") == "1"
        if not _change(api.hide, str(pid), hidden):
            return redirect(_back())
        return _done("hidden" if hidden else "shown again")

    @app.post("/faces")
    def faces():
        ids = [int(x) for x in request.form.getlist("face") if x.isdigit() and len(x) <= 18]
        if not ids:
            raise InputError("select at least one face")
        action, person = request.form.get("action"), request.form.get("person", "")
        if action == "reject":
            if not _change(api.reject, ids, person or None):
                return redirect(_back())
            return _done(f"{len(ids)} face(s): not this person (remembered)")
        if action == "split":
            out = _change(api.split, person, ids, request.form.get("to", "").strip() or None)
            return _done(f"{len(ids)} face(s) split off into #{out.get('person', '')}") if out else redirect(_back())
        as_new = request.form.get("confirm") == "new"
        if action in ("move", "confirm"):
            to = person if action == "confirm" else request.form.get("to", "").strip()
            if not to:
                raise InputError("give the name or id of the person to move them to")
            if not as_new and action == "move":
                api.check_name(db, None, to, existing_ok=True)
            if not _change(api.move, ids, to, as_new=as_new):
                return redirect(_back())
            return _done(f"{len(ids)} face(s) confirmed" if action == "confirm" else f"{len(ids)} face(s) moved")
        if action == "new_person":
            new = request.form.get("to", "").strip() or None
            if new and not as_new:
                api.check_name(db, None, new)
            out = _change(api.new_person, ids, new, as_new=as_new)
            return _done(f"{len(ids)} face(s) are now #{out['person']}") if out else redirect(_back())
        if action in ("ignore", "restore"):
            if not _change(api.ignore, ids, action == "ignore"):
                return redirect(_back())
            return _done(f"{len(ids)} face(s) " + ("ignored" if action == "ignore" else "back among unknown faces"))
        raise InputError(f"unknown action {action!r}")

    @app.post("/photo/<id:photo_id>/face")
    def add_face(photo_id: int):
        box = [request.form.get(k, "") for k in ("x1", "y1", "x2", "y2")]
        confirm = request.form.get("confirm", "")
        out = api.add_face(db, api.photo(db, photo_id)["path"], box, request.form.get("name", "").strip() or None,
                           as_new=confirm == "new")
        who = f" as {out['name']}" if out["name"] else ""
        flash(f"added face {out['face']}{who}", "ok")
        return redirect(url_for("photo", photo_id=photo_id))

    @app.post("/undo")
    def undo():
        out = _change(api.undo)
        return _done(f"undone: {out.get('summary', 'the latest change')}") if out else redirect(_back())

    return app


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its version banner in the Server header, and without a
    terminal line for every request (server errors are still logged)."""

    def version_string(self) -> str:
        return "photoface"

    def log_request(self, code="-", size="-") -> None:
        if str(code).isdigit() and int(code) >= 500:
            super().log_request(code, size)


def serve(db: str, host: str = "127.0.0.1", port: int = 8765, read_only: bool = False, on_ready=None,
          allow_hosts=()) -> None:
    """Run the app until interrupted (werkzeug's threaded server: one user, one machine).
    ``allow_hosts``: more names the server may be reached by (see allowed_hosts)."""
    from werkzeug.serving import make_server

    api.status(db)  # a clear error now if the database is missing
    try:  # werkzeug would print two lines and exit: say it in one
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, port))
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                         + (" (another program uses that port: try --port 0)" if port else "")) from None
    server = make_server(host, port, create_app(db, read_only, allowed_hosts(host, allow_hosts)), threaded=True,
                         request_handler=_QuietHandler)
    if on_ready:
        on_ready(f"http://{host if ':' not in host else f'[{host}]'}:{server.server_port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
