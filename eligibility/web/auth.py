"""Login and logout. The login form has its own CSRF token (a cookie and a hidden field that must agree),
since there is no session yet to hold one."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from ..store.users import authenticate, end_session, session_user, start_session
from .state import DB, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Worksheet, check_csrf, safe_next


def auth_router(ws: Worksheet) -> APIRouter:
    router = APIRouter()


    @router.get("/login")
    def login_form(request: Request, db: DB, next: str = "/") -> Response:
        if session_user(db, request.cookies.get(SESSION_COOKIE)) is not None:
            return RedirectResponse(safe_next(next), 303)
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        resp = ws.page(request, "login.html", None, next=safe_next(next), login_csrf=token, error=None)
        resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
        return resp

    @router.post("/login")
    async def login(
        request: Request, db: DB, name: Annotated[str, Form()], password: Annotated[str, Form()],
        csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/",
    ) -> Response:
        await check_csrf(request, request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(8))
        user = authenticate(db, name, password)
        if user is None:
            return ws.page(request, "login.html", None, status_code=401, next=safe_next(next),
                           login_csrf=csrf_token, error="That name and password do not match an active account.")
        token, _ = start_session(db, user, ws.settings.session_hours)
        resp = RedirectResponse(safe_next(next), 303)
        resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        max_age=int(ws.settings.session_hours * 3600))
        resp.delete_cookie(LOGIN_CSRF_COOKIE)
        return resp

    @router.post("/logout")
    async def logout(request: Request, db: DB) -> Response:
        found = session_user(db, request.cookies.get(SESSION_COOKIE))
        if found is None:
            raise HTTPException(303, headers={"Location": "/login"})
        await check_csrf(request, found[1].csrf)
        end_session(db, request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", 303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    return router
