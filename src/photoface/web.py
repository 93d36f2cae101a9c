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
import tempfile
from urllib.parse import urlparse

from flask import Flask, Response, abort, flash, redirect, render_template, request, url_for

from . import api
from .errors import InputError, PhotofaceError

PEOPLE_PER_PAGE = 60
FACES_PER_PAGE = 120
PHOTOS_PER_PAGE = 120


def create_app(db: str, read_only: bool = False) -> Flask:
    app = Flask(__name__)
    app.secret_key = secrets.token_bytes(32)
    app.config.update(DB=db, READ_ONLY=read_only, CSRF=secrets.token_urlsafe(32),
                      MAX_CONTENT_LENGTH=40 * 1024 * 1024)

    @app.context_processor
    def _globals():
        return {"csrf": app.config["CSRF"], "read_only": read_only}

    @app.before_request
    def _guard():
        if request.method != "POST":
            return None
        if read_only:
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
                                "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'")
        return resp

    @app.errorhandler(InputError)
    def _input_error(exc):
        if request.method == "POST":
            flash(str(exc), "error")
            return redirect(_back())
        return render_template("error.html", message=str(exc)), 404

    def _back(default: str = "people") -> str:
        ref = request.form.get("next") or request.referrer or ""
        parsed = urlparse(ref)
        if ref and (not parsed.netloc or parsed.netloc == request.host) and parsed.path.startswith("/"):
            return parsed.path + (f"?{parsed.query}" if parsed.query else "") + (f"#{parsed.fragment}" if parsed.fragment else "")
        return url_for(default)

    def _page() -> int:
        return max(request.args.get("page", 1, type=int) or 1, 1)

    def _done(message: str):
        flash(message, "ok")
        return redirect(_back())

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

    @app.get("/person/<int:pid>")
    def person(pid: int):
        page = _page()
        p = api.person_page(db, str(pid), offset=(page - 1) * FACES_PER_PAGE, limit=FACES_PER_PAGE)
        return render_template("person.html", p=p, page=page, similar=api.similar_people(db, str(pid)),
                               pages=max(1, -(-p.total_faces // FACES_PER_PAGE)))

    @app.get("/review")
    def review():
        return render_template("review.html", queue=api.review_queue(db, limit=60))

    @app.get("/photo/<int:photo_id>")
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
            except InputError as exc:
                flash(str(exc), "error")
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

    @app.get("/img/face/<int:face_id>.jpg")
    def face_img(face_id: int):
        return _jpeg(api.face_image, face_id)

    @app.get("/img/photo/<int:photo_id>.jpg")
    def photo_img(photo_id: int):
        return _jpeg(api.photo_image, photo_id)

    # --- changes (POST only) -----------------------------------------------------------
    @app.post("/person/<int:pid>/name")
    def name(pid: int):
        new = request.form.get("name", "").strip()
        if not new:
            raise InputError("a name cannot be empty")
        out = api.name(db, str(pid), new)
        return _done(f"named {out.get('name', new)!s}")

    @app.post("/person/<int:pid>/merge")
    def merge(pid: int):
        other = request.form.get("other", "").strip()
        if not other:
            raise InputError("choose the person to merge into this one")
        api.merge(db, str(pid), other)
        return _done("merged")

    @app.post("/person/<int:pid>/hide")
    def hide(pid: int):
        api.hide(db, str(pid), request.form.get("hidden", "1") == "1")
        return _done("hidden" if request.form.get("hidden", "1") == "1" else "shown again")

    @app.post("/faces")
    def faces():
        ids = [int(x) for x in request.form.getlist("face") if x.isdigit()]
        if not ids:
            raise InputError("select at least one face")
        action, person = request.form.get("action"), request.form.get("person", "")
        if action == "reject":
            api.reject(db, ids, person or None)
            return _done(f"{len(ids)} face(s): not this person (remembered)")
        if action == "split":
            out = api.split(db, person, ids, request.form.get("to", "").strip() or None)
            return _done(f"{len(ids)} face(s) split off into #{out.get('person', '')}")
        if action in ("move", "confirm"):
            to = person if action == "confirm" else request.form.get("to", "").strip()
            if not to:
                raise InputError("give the name or id of the person to move them to")
            api.move(db, ids, to)
            return _done(f"{len(ids)} face(s) confirmed" if action == "confirm" else f"{len(ids)} face(s) moved")
        raise InputError(f"unknown action {action!r}")

    @app.post("/undo")
    def undo():
        out = api.undo(db)
        return _done(f"undone: {out.get('summary', 'the latest change')}")

    return app


def serve(db: str, host: str = "127.0.0.1", port: int = 8765, read_only: bool = False, on_ready=None) -> None:
    """Run the app until interrupted (werkzeug's threaded server: one user, one machine)."""
    from werkzeug.serving import make_server

    api.status(db)  # a clear error now if the database is missing
    server = make_server(host, port, create_app(db, read_only), threaded=True)
    if on_ready:
        on_ready(f"http://{host if ':' not in host else f'[{host}]'}:{server.server_port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
