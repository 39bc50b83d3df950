"""The studio's pages and the forms they post, as a small Flask app under ``/__klbuild/studio/``.

Every page works as plain HTML forms (a person with a keyboard, or without
JavaScript, can do everything); the script adds drag and drop for the steps and
shows only the fields of the chosen step type. A form that is refused comes
back with what was typed still in it and the reasons above it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlencode

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.formparser import FormDataParser
from werkzeug.wsgi import LimitedStream

from kljourney import theme
from kljourney.durations import spoken
from kljourney.model import CATALOG_FILE, FORMS_FILE, ICON_TYPES, IMAGE_TYPES, SHOP_FILE, slugify

from . import chart, edits, fields
from .documents import Conflict, Document, StudioError, Unreadable
from .guard import Guard, Refused
from .studio import SHARED_FILES, Invalid, Studio

PREFIX = "/__klbuild/studio"
#: An uploaded logo or icon larger than this is refused: it would slow every page.
UPLOAD_LIMIT = 512 * 1024
#: A form over the request limit is still read up to this size, its files thrown away
#: unread, to show what was typed again; a larger one gets the page and the reason only.
READ_PAST_LIMIT = 32 * 1024 * 1024
FUNNEL_DAYS = (7, 30)


def create_app(studio: Studio, guard: Guard) -> Flask:
    app = Flask(
        __name__,
        static_folder=None,
        template_folder=str(theme.templates_folder()),
    )
    app.config["MAX_CONTENT_LENGTH"] = UPLOAD_LIMIT + 64 * 1024
    app.extensions["klbuild.studio"] = studio
    app.jinja_env.filters["duration"] = spoken

    @app.before_request
    def _guard() -> Response | None:
        try:
            guard.check(
                request.method,
                request.remote_addr or "",
                request.host,
                request.headers.get("Origin"),
            )
        except Refused as exc:
            return Response(str(exc) + "\n", status=403, mimetype="text/plain")
        return None

    @app.before_request
    def _journeys_only() -> None:
        """keylight.toml, catalog.toml and forms.toml have pages of their own: opened as a
        journey, they would show an empty one with a button that deletes the file."""
        if (request.view_args or {}).get("file") in SHARED_FILES:
            abort(404)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
        )
        return response

    @app.errorhandler(404)
    def _not_found(_error: Any) -> Any:
        return not_found()

    @app.errorhandler(405)
    def _post_only(error: MethodNotAllowed) -> Any:
        return _to_form_page(error)

    @app.errorhandler(413)
    def _too_large(_error: Any) -> Any:
        return _too_large_page()

    for rule, view, methods in ROUTES:
        app.add_url_rule(PREFIX + rule, view.__name__, view, methods=methods)
    return app


def _studio() -> Studio:
    from flask import current_app

    return current_app.extensions["klbuild.studio"]  # type: ignore[no-any-return]


# -- shared ------------------------------------------------------------------------------


def _loaded() -> tuple[Any, list[Any]]:
    """The shop and its problems, loaded once per request however many parts ask."""
    if "studio_loaded" not in g:
        g.studio_loaded = _studio().load()
    return g.studio_loaded  # type: ignore[no-any-return]


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    studio = _studio()
    _shop, problems = _loaded()
    context.setdefault("errors", [])
    return (
        render_template(
            f"_studio/{template}",
            prefix=PREFIX,
            shop_problems=[p for p in problems if p.severity == "error"],
            choices=studio.choices(),
            fields=fields,
            notice=request.args.get("saved"),
            **context,
        ),
        status,
    )


def _attempt(
    redisplay: Callable[..., tuple[str, int]],
    change: Callable[[], None],
    done: str,
    notice: str = "Saved",
) -> Any:
    """Run ``change``; on success go to ``done``; else show the page again with why."""
    try:
        change()
    except Conflict as exc:
        return redisplay(status=409, errors=[str(exc)], posted=None)
    except Invalid as exc:
        return redisplay(status=422, errors=[str(p) for p in exc.problems], posted=request.form)
    except StudioError as exc:
        return redisplay(status=422, errors=[str(exc)], posted=request.form)
    place, hash_, fragment = done.partition("#")
    separator = "&" if "?" in place else "?"
    return redirect(f"{place}{separator}{urlencode({'saved': notice})}{hash_}{fragment}", code=303)


def _index(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        abort(400)


def _optional_index(value: str | None) -> int | None:
    """An index in the query string, which only places the focus: None if it is not one."""
    try:
        return max(int(value or ""), 0)
    except ValueError:
        return None


# -- journeys ----------------------------------------------------------------------------


def home(status: int = 200, errors: list[str] | None = None, posted: Any = None) -> Any:
    return _page(
        "home.html",
        status,
        journeys=_studio().journeys(_loaded()[0]),
        errors=errors or [],
        posted=posted,
    )


def create_journey() -> Any:
    studio = _studio()
    values = fields.values_from(request.form, fields.JOURNEY_FIELDS, studio.languages())
    key = request.form.get("key", "").strip()
    name = values["name"] if isinstance(values["name"], str) else _first(values["name"])
    if not name:
        return home(422, ["Name: give the journey a name"], request.form)
    file = edits.journey_file_name(name, key, set(studio.journey_files()))

    def edit(document: Document) -> None:
        document.toml = edits.new_journey(values, key)

    return _attempt(
        home,
        lambda: studio.change(file, "", edit, create=True),
        url_for("journey", file=file),
        "Journey created",
    )


def _first(texts: dict[str, str]) -> str:
    return next((text for text in texts.values() if text), "")


def journey(
    file: str, status: int = 200, errors: list[str] | None = None, posted: Any = None
) -> Any:
    studio = _studio()
    document = _read_or_404(file)
    shop, problems = _loaded()
    entry = next((j for j in studio.journeys(shop) if j.file == file), None)
    steps = list(document.toml.get("steps", []))
    return _page(
        "journey.html",
        status,
        file=file,
        document=document,
        entry=entry,
        values=fields.values_of(document.toml, fields.JOURNEY_FIELDS),
        steps=[_step_summary(table) for table in steps],
        problems=[p for p in problems if p.file == file],
        funnels=_funnels(entry.key if entry else ""),
        moved=request.args.get("moved"),
        deleted=_optional_index(request.args.get("deleted")),
        errors=errors or [],
        posted=posted,
    )


def _step_summary(table: Any) -> dict[str, Any]:
    step_type = str(table.get("type", ""))
    return fields.values_of(table, fields.step_fields(step_type)) | {
        "type": step_type,
        "type_label": fields.STEP_TYPE_LABELS.get(step_type, step_type),
    }


def save_journey(file: str) -> Any:
    studio = _studio()
    values = fields.values_from(request.form, fields.JOURNEY_FIELDS, studio.languages())

    def edit(document: Document) -> None:
        fields.apply(document.toml, fields.JOURNEY_FIELDS, values)

    return _attempt(
        lambda **kw: journey(file, **kw),
        lambda: studio.change(file, request.form.get("seen", ""), edit),
        url_for("journey", file=file),
    )


def delete_journey(file: str) -> Any:
    studio = _studio()
    return _attempt(
        lambda **kw: journey(file, **kw),
        lambda: studio.delete(file, request.form.get("seen", "")),
        url_for("home"),
        "Journey deleted",
    )


def _funnels(key: str) -> list[Any]:
    studio = _studio()
    if not key or studio.funnel is None:
        return []
    found = []
    for days in FUNNEL_DAYS:
        report = studio.funnel(key, days)
        if report is not None:
            found.append((days, report, chart.funnel_svg(report)))
    return found


# -- steps -------------------------------------------------------------------------------


def _step_type() -> str:
    step_type = request.form.get("type", "")
    if step_type not in fields.STEP_TYPE_LABELS:
        raise StudioError(f"Type: choose one of the step types (got {step_type!r})")
    return step_type


def _step_values(step_type: str) -> dict[str, Any]:
    languages = _studio().languages()
    return fields.values_from(request.form, fields.step_fields(step_type), languages)


def add_step(file: str) -> Any:
    studio = _studio()

    def edit(document: Document) -> None:
        step_type = _step_type()
        table = edits.add_step(document.toml, _step_values(step_type), step_type)
        if step_type == "cancellation":
            # A cancellation asks why: it is made with its first reason (more on its page).
            first = fields.values_from(_prefixed("first_reason-"), fields.REASON_FIELDS, _langs())
            edits.add_table(table, "reasons", first, fields.REASON_FIELDS)

    return _attempt(
        lambda **kw: journey(file, **kw),
        lambda: studio.change(file, request.form.get("seen", ""), edit),
        url_for("journey", file=file) + "#steps",
        "Step added",
    )


def _langs() -> list[str]:
    return _studio().languages()


def _prefixed(prefix: str) -> MultiDict[str, str]:
    """The posted fields whose names start with ``prefix``, without it: one form may
    carry a second set of fields (a new cancellation step's first reason)."""
    return MultiDict(
        [
            (key[len(prefix) :], value)
            for key, value in request.form.items(multi=True)
            if key.startswith(prefix)
        ]
    )


def save_reason(file: str, index: int, reason: str) -> Any:
    """Add (``reason`` "new") or change one reason of a cancellation step."""
    studio = _studio()
    values = fields.values_from(request.form, fields.REASON_FIELDS, _langs())

    def edit(document: Document) -> None:
        table = edits.table_at(document.toml, "steps", index)
        if reason == "new":
            edits.add_table(table, "reasons", values, fields.REASON_FIELDS)
        else:
            target = edits.table_at(table, "reasons", _index(reason))
            fields.apply(target, fields.REASON_FIELDS, values)

    return _attempt(
        lambda **kw: step(file, index, **kw),
        lambda: studio.change(file, request.form.get("seen", ""), edit),
        url_for("step", file=file, index=index) + "#reasons",
        "Added" if reason == "new" else "Saved",
    )


def delete_reason(file: str, index: int, reason: int) -> Any:
    def edit(document: Document) -> None:
        edits.delete(edits.table_at(document.toml, "steps", index), "reasons", reason)

    return _attempt(
        lambda **kw: step(file, index, **kw),
        lambda: _studio().change(file, request.form.get("seen", ""), edit),
        url_for("step", file=file, index=index) + "#reasons",
        "Deleted",
    )


def step(
    file: str, index: int, status: int = 200, errors: list[str] | None = None, posted: Any = None
) -> Any:
    document = _read_or_404(file)
    steps = document.toml.get("steps", [])
    if not 0 <= index < len(steps):
        abort(404)
    table = steps[index]
    step_type = str(table.get("type", ""))
    return _page(
        "step.html",
        status,
        file=file,
        index=index,
        document=document,
        journey_name=fields.values_of(document.toml, fields.JOURNEY_FIELDS[:1])["name"],
        reasons=[
            fields.values_of(reason, fields.REASON_FIELDS)
            for reason in (table.get("reasons", []) if step_type == "cancellation" else [])
        ],
        step_type=step_type,
        values={
            kind: fields.values_of(table, fields.step_fields(kind))
            for kind in fields.STEP_TYPE_LABELS
        },
        errors=errors or [],
        posted=posted,
    )


def save_step(file: str, index: int) -> Any:
    studio = _studio()

    def edit(document: Document) -> None:
        step_type = _step_type()
        edits.set_step(document.toml, index, _step_values(step_type), step_type)

    return _attempt(
        lambda **kw: step(file, index, **kw),
        lambda: studio.change(file, request.form.get("seen", ""), edit),
        url_for("journey", file=file) + "#steps",
    )


def delete_step(file: str, index: int) -> Any:
    """Delete a step; the page then gives the keyboard's focus to the step now in its
    place (``deleted``), so a person who pressed Delete is not sent to the page's top."""
    studio = _studio()
    return _attempt(
        lambda **kw: journey(file, **kw),
        lambda: studio.change(
            file, request.form.get("seen", ""), lambda d: edits.delete(d.toml, "steps", index)
        ),
        # No #fragment: Chromium ignores autofocus on a page opened at one.
        url_for("journey", file=file, deleted=index),
        "Step deleted",
    )


def move_step(file: str, index: int) -> Any:
    """Move up or down: the keyboard's way to reorder (drag and drop posts ``order``)."""
    studio = _studio()
    to = index - 1 if request.form.get("direction") == "up" else index + 1
    direction = request.form.get("direction", "down")
    return _attempt(
        lambda **kw: journey(file, **kw),
        lambda: studio.change(
            file, request.form.get("seen", ""), lambda d: edits.move(d.toml, "steps", index, to)
        ),
        # No #fragment: Chromium ignores autofocus on a page opened at one.
        url_for("journey", file=file, moved=f"{max(to, 0)}-{direction}"),
        "Step moved",
    )


def order_steps(file: str) -> Any:
    studio = _studio()
    try:
        order = [int(part) for part in request.form.get("order", "").split(",") if part]
    except ValueError:
        abort(400)
    return _attempt(
        lambda **kw: journey(file, **kw),
        lambda: studio.change(
            file, request.form.get("seen", ""), lambda d: edits.reorder(d.toml, "steps", order)
        ),
        url_for("journey", file=file) + "#steps",
        "Steps reordered",
    )


# -- catalog and forms -----------------------------------------------------------------------


def catalog(status: int = 200, errors: list[str] | None = None, posted: Any = None) -> Any:
    document = _read_or_404(CATALOG_FILE)
    return _page(
        "catalog.html",
        status,
        document=document,
        products=[fields.values_of(t, fields.PRODUCT_FIELDS) for t in _list(document, "products")],
        selections=[
            fields.values_of(t, fields.SELECTION_FIELDS)
            for t in _list(document, "product_selections")
        ],
        discounts=[
            fields.values_of(t, fields.DISCOUNT_FIELDS) for t in _list(document, "discounts")
        ],
        errors=errors or [],
        posted=posted,
    )


def forms(status: int = 200, errors: list[str] | None = None, posted: Any = None) -> Any:
    document = _read_or_404(FORMS_FILE)
    found = []
    for table in _list(document, "forms"):
        entry = fields.values_of(table, fields.FORM_FIELDS)
        entry["fields"] = [
            fields.values_of(f, fields.FORM_FIELD_FIELDS) for f in table.get("fields", [])
        ]
        found.append(entry)
    return _page(
        "forms.html", status, document=document, forms=found, errors=errors or [], posted=posted
    )


#: (file, array key, specs, page) of what the catalog and forms pages edit, by URL part.
COLLECTIONS: dict[str, tuple[str, str, list[fields.Field], str]] = {
    "products": (CATALOG_FILE, "products", fields.PRODUCT_FIELDS, "catalog"),
    "selections": (CATALOG_FILE, "product_selections", fields.SELECTION_FIELDS, "catalog"),
    "discounts": (CATALOG_FILE, "discounts", fields.DISCOUNT_FIELDS, "catalog"),
    "forms": (FORMS_FILE, "forms", fields.FORM_FIELDS, "forms"),
}


def save_item(collection: str, index: str) -> Any:
    """Add (index "new") or change one product, product selection or form."""
    if collection not in COLLECTIONS:
        abort(404)
    file, key, specs, page = COLLECTIONS[collection]
    studio = _studio()
    values = fields.values_from(request.form, specs, studio.languages())
    redisplay = catalog if page == "catalog" else forms
    written: list[Path] = []
    upload = request.files.get("picture") if collection == "products" else None
    if upload is not None and upload.filename:
        stem = str(values.get("id") or "product")
        try:
            path = _store_upload(
                studio.root, "images", stem, "Picture", upload, IMAGE_TYPES, written
            )
        except StudioError as exc:
            return redisplay(422, [str(exc)], request.form)
        values["image"] = path.relative_to(studio.root).as_posix()

    def edit(document: Document) -> None:
        if index == "new":
            edits.add_table(document.toml, key, values, specs)
        else:
            fields.apply(edits.table_at(document.toml, key, _index(index)), specs, values)

    response = _attempt(
        redisplay,
        lambda: studio.change(file, request.form.get("seen", ""), edit, also=written),
        url_for(page),
        "Added" if index == "new" else "Saved",
    )
    return _discard_uploads_unless_saved(response, written)


def delete_item(collection: str, index: int) -> Any:
    if collection not in COLLECTIONS:
        abort(404)
    file, key, _specs, page = COLLECTIONS[collection]
    redisplay = catalog if page == "catalog" else forms
    return _attempt(
        redisplay,
        lambda: _studio().change(
            file, request.form.get("seen", ""), lambda d: edits.delete(d.toml, key, index)
        ),
        url_for(page),
        "Deleted",
    )


def save_form_field(form: int, index: str) -> Any:
    """Add (index "new") or change one field of a form."""
    studio = _studio()
    values = fields.values_from(request.form, fields.FORM_FIELD_FIELDS, studio.languages())

    def edit(document: Document) -> None:
        table = edits.table_at(document.toml, "forms", form)
        if index == "new":
            edits.add_table(table, "fields", values, fields.FORM_FIELD_FIELDS)
        else:
            target = edits.table_at(table, "fields", _index(index))
            fields.apply(target, fields.FORM_FIELD_FIELDS, values)

    return _attempt(
        forms,
        lambda: studio.change(FORMS_FILE, request.form.get("seen", ""), edit),
        url_for("forms") + f"#form-{form}",
        "Added" if index == "new" else "Saved",
    )


def delete_form_field(form: int, index: int) -> Any:
    def edit(document: Document) -> None:
        edits.delete(edits.table_at(document.toml, "forms", form), "fields", index)

    return _attempt(
        forms,
        lambda: _studio().change(FORMS_FILE, request.form.get("seen", ""), edit),
        url_for("forms") + f"#form-{form}",
        "Deleted",
    )


# -- brand -------------------------------------------------------------------------------


def brand(status: int = 200, errors: list[str] | None = None, posted: Any = None) -> Any:
    document = _read_or_404(SHOP_FILE)
    table = document.toml.get("brand", {})
    values = fields.values_of(table, fields.BRAND_FIELDS)
    files = {name: str(table.get(name, "")) for name in ("logo", "favicon")}
    return _page(
        "brand.html",
        status,
        document=document,
        values=values,
        files=files,
        errors=errors or [],
        posted=posted,
    )


def save_brand() -> Any:
    studio = _studio()
    values = fields.values_from(request.form, fields.BRAND_FIELDS, [])
    written: list[Path] = []
    try:
        for name, label, kinds in (("logo", "Logo", IMAGE_TYPES), ("favicon", "Icon", ICON_TYPES)):
            upload = request.files.get(name)
            if upload is not None and upload.filename:
                path = _store_upload(studio.root, "brand", name, label, upload, kinds, written)
                values[name] = path.relative_to(studio.root).as_posix()
            elif request.form.get(f"remove_{name}"):
                values[name] = ""
    except StudioError as exc:
        _discard_uploads_unless_saved(None, written)
        return brand(422, [str(exc)], request.form)

    def edit(document: Document) -> None:
        edits.set_brand(document.toml, values)

    response = _attempt(
        brand,
        lambda: studio.change(SHOP_FILE, request.form.get("seen", ""), edit, also=written),
        url_for("brand"),
    )
    return _discard_uploads_unless_saved(response, written)


def _store_upload(
    root: Path,
    folder: str,
    stem: str,
    label: str,
    upload: FileStorage,
    kinds: tuple[str, ...],
    written: list[Path],
) -> Path:
    """Keep an uploaded picture as ``<folder>/<stem>-<digest>.<suffix>`` in the journeys
    folder, and add it to ``written`` if this upload made the file.

    Named by its content, so it never replaces a file the shop uses now (a refused
    change must leave everything as it was) and two uploads never collide. The same
    picture uploaded again is the file there already, which the shop may use: it is
    not ``written``, so a refused change does not take it away.
    """
    suffix = PurePosixPath(upload.filename or "").suffix.lower()
    if suffix not in kinds:
        raise StudioError(f"{label}: expected a {', '.join(kinds)} file, got {upload.filename!r}")
    data = upload.read(UPLOAD_LIMIT + 1)
    if len(data) > UPLOAD_LIMIT:
        raise StudioError(
            f"{label}: the file is larger than {UPLOAD_LIMIT // 1024} KB; make it smaller"
        )
    digest = hashlib.sha256(data).hexdigest()[:8]
    target = root / folder
    target.mkdir(exist_ok=True)
    path = target / f"{slugify(stem) or 'picture'}-{digest}{suffix}"
    if not path.exists():
        path.write_bytes(data)
        written.append(path)
    return path


def _discard_uploads_unless_saved(response: Any, written: list[Path]) -> Any:
    """A refused change keeps none of the files uploaded with it."""
    if not (isinstance(response, Response) and response.status_code == 303):
        for path in written:
            path.unlink(missing_ok=True)
    return response


def brand_file(name: str) -> Any:
    """The logo or icon the shop names, for the brand page's preview."""
    table = _studio().read(SHOP_FILE).toml.get("brand", {})
    relative = str(table.get(name, "")) if name in ("logo", "favicon") else ""
    root = _studio().root.resolve()
    path = (root / relative).resolve() if relative else None
    if path is None or not path.is_relative_to(root) or not path.is_file():
        abort(404)
    return send_file(path)


def asset(name: str) -> Any:
    if name not in ("studio.css", "studio.js"):
        abort(404)
    return send_file(theme.templates_folder() / "_studio" / name)


# -- addresses that are not pages ----------------------------------------------------------


def not_found(file: str | None = None) -> Any:
    """The studio's own page for an address it has nothing at, with the way back; ``file``
    (else the address's) when it names a file all journeys share."""
    file = file or (request.view_args or {}).get("file")
    return _page("missing.html", 404, shared=file if file in SHARED_FILES else None)


#: The page each form is on, by the endpoint it posts to; a product's, a selection's, a
#: discount's and a form's by their collection (COLLECTIONS).
FORM_PAGES = {
    "create_journey": "home",
    "save_journey": "journey",
    "delete_journey": "journey",
    "add_step": "journey",
    "order_steps": "journey",
    "delete_step": "journey",
    "move_step": "journey",
    "save_step": "step",
    "save_reason": "step",
    "delete_reason": "step",
    "save_form_field": "forms",
    "delete_form_field": "forms",
    "save_brand": "brand",
}
#: What the pages FORM_PAGES names take from the address of the form's action.
PAGE_ARGUMENTS = {"journey": ("file",), "step": ("file", "index")}


def _form_page(endpoint: str | None, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(endpoint, arguments) of the page whose form posts to ``endpoint`` with ``values``;
    404 for an address that names nothing the studio edits."""
    if endpoint in ("save_item", "delete_item"):
        found = COLLECTIONS.get(values.get("collection", ""))
        page = found[3] if found else None
    else:
        page = FORM_PAGES.get(endpoint or "")
    if page is None or values.get("file") in SHARED_FILES:
        abort(404)
    return page, {key: values[key] for key in PAGE_ARGUMENTS.get(page, ())}


def _to_form_page(error: MethodNotAllowed) -> Any:
    """A GET of an address only a form posts to goes to the page that form is on.

    A refused save leaves that address in the address bar: reloading it or opening
    it from a bookmark must show the page again, not a 405.
    """
    if request.method not in ("GET", "HEAD"):
        return error
    adapter = current_app.create_url_adapter(request)
    if adapter is None:
        return error
    try:
        endpoint, values = adapter.match(method="POST")
    except HTTPException:
        return error
    try:
        page, arguments = _form_page(endpoint, values)
    except NotFound:
        return not_found(values.get("file"))
    return redirect(url_for(page, **arguments), code=303)


def _too_large_page() -> Any:
    """The page of the form whose request was over the limit, saying so, with what was
    typed when the request can still be read (a file input cannot be filled again)."""
    typed = _typed_past_limit()
    message = (
        f"What was sent is larger than the studio takes: a picture may be "
        f"{UPLOAD_LIMIT // 1024} KB at most. Make the picture smaller (export it narrower, "
        "or as SVG) and choose it again."
    )
    if typed is None:
        message += " What was typed could not be kept either: please type it again."
    try:
        page, arguments = _form_page(request.endpoint, request.view_args or {})
    except NotFound:
        page, arguments = "home", {}
    view = current_app.view_functions[page]
    return view(**arguments, status=413, errors=[message], posted=typed)


def _typed_past_limit() -> MultiDict[str, str] | None:
    """What was typed into a form whose request is over the limit, its files thrown away
    as they arrive; None when the request is not a multipart form, is larger than
    READ_PAST_LIMIT, or cannot be read."""
    length = request.content_length
    if request.mimetype != "multipart/form-data" or not length or length > READ_PAST_LIMIT:
        return None
    parser = FormDataParser(
        _discarded,
        max_form_memory_size=request.max_form_memory_size,
        silent=False,
        max_form_parts=request.max_form_parts,
    )
    stream = LimitedStream(request.environ["wsgi.input"], length)
    try:
        _stream, form, _files = parser.parse(
            stream, request.mimetype, length, request.mimetype_params
        )
    except (HTTPException, ValueError):
        return None
    return form


class _Discarded(io.BytesIO):
    """Where a file in a form over the limit goes: nowhere."""

    def write(self, data: Any, /) -> int:
        return len(data)


def _discarded(*_args: Any, **_kwargs: Any) -> IO[bytes]:
    return _Discarded()


# -- helpers -----------------------------------------------------------------------------


def _read_or_404(file: str) -> Document:
    """The file, or a 404 for a name that is none of the folder's journey files; a file
    that is there but broken is a page saying what is wrong with it."""
    try:
        return _studio().read(file)
    except Unreadable as exc:
        abort(make_response(home(422, [str(exc)])))
    except StudioError:
        abort(404)


def _list(document: Document, key: str) -> list[Any]:
    found = document.toml.get(key, [])
    return list(found) if isinstance(found, list) else []


ROUTES: list[tuple[str, Callable[..., Any], list[str]]] = [
    ("/", home, ["GET"]),
    ("/journeys", create_journey, ["POST"]),
    ("/journeys/<file>/", journey, ["GET"]),
    ("/journeys/<file>/", save_journey, ["POST"]),
    ("/journeys/<file>/delete", delete_journey, ["POST"]),
    ("/journeys/<file>/steps", add_step, ["POST"]),
    ("/journeys/<file>/order", order_steps, ["POST"]),
    ("/journeys/<file>/steps/<int:index>/", step, ["GET"]),
    ("/journeys/<file>/steps/<int:index>/", save_step, ["POST"]),
    ("/journeys/<file>/steps/<int:index>/delete", delete_step, ["POST"]),
    ("/journeys/<file>/steps/<int:index>/move", move_step, ["POST"]),
    ("/journeys/<file>/steps/<int:index>/reasons/<reason>", save_reason, ["POST"]),
    ("/journeys/<file>/steps/<int:index>/reasons/<int:reason>/delete", delete_reason, ["POST"]),
    ("/catalog/", catalog, ["GET"]),
    ("/forms/", forms, ["GET"]),
    ("/<collection>/<index>", save_item, ["POST"]),
    ("/<collection>/<int:index>/delete", delete_item, ["POST"]),
    ("/forms/<int:form>/fields/<index>", save_form_field, ["POST"]),
    ("/forms/<int:form>/fields/<int:index>/delete", delete_form_field, ["POST"]),
    ("/brand/", brand, ["GET"]),
    ("/brand/", save_brand, ["POST"]),
    ("/brand/<name>", brand_file, ["GET"]),
    ("/assets/<name>", asset, ["GET"]),
]
