"""The Trials and Trial pages, and a reviewer's confirm / mark-wrong of a reading."""

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from ..render import render
from ..store import records as rec
from ..store.db import now
from .cases import criterion_or_404
from .reviews import write_reviewed
from .state import CtxDep, PostCtx, Worksheet, today


def _matches(query: str, *fields: str) -> bool:
    words = query.lower().split()
    hay = " ".join(fields).lower()
    return all(w in hay for w in words)


def trial_pages(ws: Worksheet) -> APIRouter:
    router = APIRouter()

    @router.get("/")
    def trials(request: Request, ctx: CtxDep, q: str = "") -> Response:
        rows = [t for t in ws.trials() if not q or _matches(q, t.id, t.title, " ".join(t.conditions))]
        name = "_trial_rows.html" if request.headers.get("hx-request") else "trials.html"
        return ws.page(request, name, ctx, trials=rows, q=q, total=len(ws.library.trials))

    @router.get("/trials/{trial_id}")
    def trial(request: Request, ctx: CtxDep, trial_id: str) -> Response:
        entry = ws.entry(trial_id)
        reviews = rec.reviews(ctx.db, trial_id)
        last = {r.criterion_id: r for r in reviews}
        rows = [
            {
                "c": c,
                "reading": render(c.rule),
                "unread": _unread_reasons(c.rule),
                "review": last.get(c.id),
            }
            for c in entry.trial.criteria
        ]
        return ws.page(
            request, "trial.html", ctx, entry=entry, rows=rows, reviews=reviews, names=rec.user_names(ctx.db),
            can_review=ctx.user.role in ("reviewer", "admin"),
        )

    @router.post("/trials/{trial_id}/review")
    def review(
        request: Request, ctx: PostCtx, trial_id: str, criterion: Annotated[str, Form()],
        action: Annotated[str, Form()], note: Annotated[str, Form()] = "",
    ) -> Response:
        ctx.require("reviewer")
        entry = ws.entry(trial_id)
        crit = criterion_or_404(entry, criterion)
        if action not in ("confirm", "wrong"):
            raise HTTPException(400, "action must be confirm or wrong")
        if action == "wrong" and not note.strip():
            raise HTTPException(400, "say what is wrong with the reading")
        updated = write_reviewed(ws.settings.data_dir, entry, criterion, action, ctx.user.name, note.strip(), now())
        rec.add_review(
            ctx.db, trial_id, criterion, action, note, render(crit.rule), updated.rule_version, ctx.user,
            ws.versions(entry, today()),
        )
        ws.set_reviewed(updated)
        return RedirectResponse(f"/trials/{trial_id}#crit-{criterion}", 303)

    return router


def _unread_reasons(rule: object) -> list[str]:
    from .. import nodes as n

    out = []
    for x in n.walk(rule):  # type: ignore[arg-type]
        if isinstance(x, n.Unparsed):
            out.append(x.reason or "not read")
        elif isinstance(x, n.Measurement):
            out.append("a measurement the engine cannot compute")
    return out
