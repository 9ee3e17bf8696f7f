"""The coordinator worksheet: server-rendered pages (Jinja2 + htmx, vendored) over the trial library and the store.

``mount_worksheet(app, library=..., data_dir=...)`` adds it to the CDS Hooks service's app (or any FastAPI
app) as a sub-application at ``/``: routes the app already has (``/cds-services...``) keep matching first and
keep their own error handling and JWT auth; the worksheet's session cookie and CSRF checks apply to the
worksheet's routes only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ..library import TrialLibrary
from ..store import open_store
from .settings import WorksheetSettings, worksheet_settings
from .state import HERE, STATIC_PREFIX, Worksheet

__all__ = ["WorksheetSettings", "build_worksheet", "mount_worksheet"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


class RedactQuery(logging.Filter):
    """Access-log lines keep the path and drop the query string: a card link's ``?patient=`` is PHI."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?[redacted]", *args[3:])
        return True


def _install_log_filter() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQuery) for f in access.filters):
        access.addFilter(RedactQuery())


def build_worksheet(library: TrialLibrary, data_dir: Path, settings: object | None = None) -> FastAPI:
    """The worksheet as its own ASGI app (opens and migrates the database)."""
    from .auth import auth_router
    from .cases import case_pages
    from .exports import export_pages
    from .pages import trial_pages

    config = worksheet_settings(Path(data_dir), settings)
    config.patients_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(config.data_dir, config.database_url)
    ws = Worksheet(library, store, config)
    sub = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, title="eligibility worksheet")
    sub.state.worksheet = ws
    sub.mount(STATIC_PREFIX, StaticFiles(directory=str(HERE / "static")), name="worksheet-static")
    for router in (auth_router(ws), trial_pages(ws), case_pages(ws), export_pages(ws)):
        sub.include_router(router)

    @sub.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Pages hold patient data: never cached, never framed, scripts and forms only from this site."""
        response = await call_next(request)
        if not request.url.path.startswith(STATIC_PREFIX):
            response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @sub.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code in (302, 303) and exc.headers and "Location" in exc.headers:
            if request.headers.get("hx-request"):  # htmx follows HX-Redirect, not a 303 inside a fragment
                return Response(status_code=204, headers={"HX-Redirect": exc.headers["Location"]})
            return RedirectResponse(exc.headers["Location"], exc.status_code)
        return ws.page(request, "error.html", None, status_code=exc.status_code, detail=str(exc.detail),
                       code=exc.status_code)

    sub.router.on_shutdown.append(store.close)
    _install_log_filter()
    return sub


def mount_worksheet(app: FastAPI, *, library: TrialLibrary, data_dir: Path, settings: object | None = None) -> None:
    """Serve the worksheet at ``/`` of ``app`` (after the app's own routes)."""
    app.mount("/", build_worksheet(library, data_dir, settings), name="worksheet")
