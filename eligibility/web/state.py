"""The worksheet's shared state: the trial library (with reviewed rule files laid over it), the store, settings,
templates, and the request context (who is logged in, their CSRF token, a database session)."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from ..errors import InputError
from ..library import LibraryTrial, TrialLibrary
from ..patient import Patient
from ..store import Store
from ..store.models import LoginSession, PatientData, User
from ..store.records import Versions
from ..store.users import session_user
from .casework import ENGINE_VERSION, read_patient_document
from .reviews import load_reviewed, reviewed_path
from .settings import WorksheetSettings

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "elig_session"
LOGIN_CSRF_COOKIE = "elig_login_csrf"
STATIC_PREFIX = "/worksheet-static"


class Worksheet:
    def __init__(self, library: TrialLibrary, store: Store, settings: WorksheetSettings) -> None:
        self.library = library
        self.store = store
        self.settings = settings
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["static"] = STATIC_PREFIX
        self._reviewed: dict[str, LibraryTrial] = {}
        self._patients: dict[int, Patient] = {}
        for entry in library.trials:
            path = reviewed_path(settings.data_dir, entry.id)
            if path.is_file():
                self._reviewed[entry.id] = load_reviewed(path, entry)

    def patient_of(self, data: PatientData) -> Patient:
        """The stored document read as a Patient; documents never change (append-only), so the reading is
        kept (a Synthea bundle takes a second to read, and every answer and preview re-screens)."""
        found = self._patients.get(data.id)
        if found is None:
            found = read_patient_document(data.content, data.source)[0]
            if len(self._patients) >= 64:
                self._patients.pop(next(iter(self._patients)))
            self._patients[data.id] = found
        return found

    # trials -----------------------------------------------------------------------------------------------
    def trials(self) -> list[LibraryTrial]:
        return [self._reviewed.get(t.id, t) for t in self.library.trials]

    def entry(self, trial_id: str) -> LibraryTrial:
        """The trial as the worksheet screens it; 404 for an id the library does not hold."""
        if trial_id in self._reviewed:
            return self._reviewed[trial_id]
        try:
            return self.library.get(trial_id)
        except InputError:
            raise HTTPException(404, "no trial of that id in the library") from None

    def library_entry(self, trial_id: str) -> LibraryTrial:
        return self.library.get(trial_id)

    def set_reviewed(self, entry: LibraryTrial) -> None:
        self._reviewed[entry.id] = entry

    @staticmethod
    def versions(entry: LibraryTrial, as_of: date) -> Versions:
        return Versions(rule_version=entry.rule_version, engine_version=ENGINE_VERSION, as_of=as_of)

    # pages ------------------------------------------------------------------------------------------------
    def page(
        self, request: Request, name: str, ctx: "Ctx | None", status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        values.update(
            request=request,
            user=ctx.user if ctx else None,
            csrf=ctx.csrf if ctx else "",
            engine_version=ENGINE_VERSION,
        )
        return self.templates.TemplateResponse(request, name, values, status_code=status_code)


def today() -> date:
    return datetime.now(UTC).date()


@dataclass
class Ctx:
    """Who is asking: the user, their session's CSRF token, and the request's database session."""

    user: User
    session: LoginSession
    db: Session

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def require(self, *roles: str) -> None:
        if self.user.role != "admin" and self.user.role not in roles:
            raise HTTPException(403, f"this needs the role {' or '.join(roles)}")


def login_redirect(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(303, "log in first", headers={"Location": f"/login?next={quote(target, safe='')}"})


def context(ws: Worksheet, request: Request, db: Session) -> Ctx:
    found = session_user(db, request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise login_redirect(request)
    return Ctx(found[0], found[1], db)


async def check_csrf(request: Request, expected: str) -> None:
    """Every form post carries the session's token (form field, or the X-CSRF-Token header htmx sends)."""
    given = request.headers.get("x-csrf-token")
    if given is None:
        form = await request.form()
        value = form.get("csrf_token")
        given = value if isinstance(value, str) else None
    if not given or not secrets.compare_digest(given, expected):
        raise HTTPException(403, "the form's security token is missing or stale: reload the page and try again")


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no '//host'), else the trials page."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def get_worksheet(request: Request) -> Worksheet:
    ws: Worksheet = request.app.state.worksheet
    return ws


def get_db(request: Request) -> Iterator[Session]:
    with get_worksheet(request).store.session() as db:
        yield db


DB = Annotated[Session, Depends(get_db)]


def get_ctx(request: Request, db: DB) -> Ctx:
    return context(get_worksheet(request), request, db)


CtxDep = Annotated[Ctx, Depends(get_ctx)]
"""The logged-in context of a page (redirects to the login form otherwise)."""


async def post_ctx(request: Request, ctx: CtxDep) -> Ctx:
    await check_csrf(request, ctx.csrf)
    return ctx


PostCtx = Annotated[Ctx, Depends(post_ctx)]
"""The logged-in context of a form post: the CSRF token is checked before the handler runs."""
