"""Exports: the JSON record, the printable checklist (HTML with print CSS, PDF via WeasyPrint or Chromium) and
the de-identified screening log for a sponsor (CSV without names, ids or dates of birth)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select

from ..api import ScreeningResult
from ..store import records as rec
from ..store.models import Case
from .cases import answers_json, case_or_404, latest
from .state import CtxDep, Worksheet

LOG_COLUMNS = (
    "trial", "candidate", "screened_on", "verdict", "status", "screen_failure_reason", "failed_criteria",
    "open_criteria", "rule_version", "engine_version",
)


def html_to_pdf(html: str, base_url: str) -> bytes:
    """WeasyPrint when it is installed, else headless Chromium's print; neither fetches from the network."""
    try:
        from weasyprint import HTML

        return bytes(HTML(string=html, base_url=base_url).write_pdf())
    except ImportError:
        pass
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        raise HTTPException(501, "no PDF engine: install WeasyPrint (pip install 'eligibility[pdf]') or Chromium")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "c.html", Path(tmp) / "c.pdf"
        src.write_text(html, encoding="utf-8")
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--print-to-pdf={out}", src.as_uri()],
            check=True, capture_output=True, timeout=120,
        )
        return out.read_bytes()


def export_pages(ws: Worksheet) -> APIRouter:
    router = APIRouter()

    def record_json(ctx: object, case: Case) -> dict[str, object]:
        db = ctx.db  # type: ignore[attr-defined]
        row, result = latest(db, case)
        names = rec.user_names(db)
        return {
            "case": case.id,
            "trial": case.trial_id,
            "screening": {
                "id": row.id, "at": row.created_at.isoformat(), "by": names.get(row.user_id), "reason": row.reason,
                "rule_version": row.rule_version, "engine_version": row.engine_version, "as_of": row.as_of.isoformat(),
            },
            "result": json.loads(row.result_json),
            "answers": answers_json(db, case),
            "signatures": [
                {
                    "id": s.id, "screening": s.screening_id, "role": s.role, "meaning": s.meaning,
                    "by": names.get(s.user_id), "at": s.created_at.isoformat(), "withdraws": s.supersedes_id,
                    "rule_version": s.rule_version, "engine_version": s.engine_version, "as_of": s.as_of.isoformat(),
                }
                for s in rec.signatures(db, case)
            ],
            "status": [
                {"status": e.status, "reason": e.reason, "by": names.get(e.user_id), "at": e.created_at.isoformat()}
                for e in rec.status_events(db, case)
            ],
            "verdict": result.verdict,
        }

    @router.get("/cases/{case_id}/export.json")
    def export_json(ctx: CtxDep, case_id: int) -> Response:
        case = case_or_404(ctx.db, case_id)
        body = json.dumps(record_json(ctx, case), indent=2, ensure_ascii=False)
        return Response(body, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="screening-{case.id}.json"'})

    def checklist_html(request: Request, ctx: object, case: Case) -> str:
        db = ctx.db  # type: ignore[attr-defined]
        row, result = latest(db, case)
        sigs = rec.signatures(db, case)
        withdrawn = {s.supersedes_id for s in sigs if s.withdrawn}
        resp = ws.page(
            request, "checklist.html", ctx, case=case, entry=ws.entry(case.trial_id), row=row, result=result,  # type: ignore[arg-type]
            sigs=[s for s in sigs if not s.withdrawn and s.id not in withdrawn], names=rec.user_names(db),
            answers=rec.current_answers(db, case),
        )
        return bytes(resp.body).decode()

    @router.get("/cases/{case_id}/checklist")
    def checklist(request: Request, ctx: CtxDep, case_id: int) -> Response:
        return Response(checklist_html(request, ctx, case_or_404(ctx.db, case_id)), media_type="text/html")

    @router.get("/cases/{case_id}/checklist.pdf")
    def checklist_pdf(request: Request, ctx: CtxDep, case_id: int) -> Response:
        case = case_or_404(ctx.db, case_id)
        pdf = html_to_pdf(checklist_html(request, ctx, case), str(request.base_url))
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="checklist-{case.id}.pdf"'})

    @router.get("/log.csv")
    def screening_log(ctx: CtxDep, trial: str = "") -> Response:
        """One row per candidate: no names, no patient ids, no birth dates; the case number is replaced by a
        sequence number per trial so that the sponsor cannot join it back."""
        query = select(Case).order_by(Case.trial_id, Case.id)
        if trial:
            query = query.where(Case.trial_id == trial)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(LOG_COLUMNS)
        seq: dict[str, int] = {}
        for case in ctx.db.scalars(query):
            rows = rec.screenings(ctx.db, case)
            if not rows:
                continue
            last = rows[-1]
            result = ScreeningResult.model_validate_json(last.result_json)
            events = rec.status_events(ctx.db, case)
            status = events[-1] if events else None
            seq[case.trial_id] = seq.get(case.trial_id, 0) + 1
            writer.writerow([
                case.trial_id, seq[case.trial_id], last.as_of.isoformat(), result.verdict,
                status.status if status else "pre-screened",
                status.reason if status and status.status == "screen-failed" else "",
                " ".join(c.id for c in result.criteria if c.status == "fail"),
                " ".join(c.id for c in result.criteria if c.status == "unknown"),
                last.rule_version, last.engine_version,
            ])
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="screening-log.csv"'})

    return router
