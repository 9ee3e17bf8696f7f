"""Screen, Questions and Record: a candidate for a trial (a *case*), screened, questioned, signed.

URLs name the case number, never the patient id, so access logs carry no patient identifier (the card
link's ``/screen?trial=&patient=`` query is redacted by the log filter in :mod:`eligibility.web`).
"""

from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from ..api import ScreeningResult
from ..errors import EligibilityError
from ..library import LibraryTrial
from ..patient import Patient
from ..store import records as rec
from ..store.models import Case, PatientData, Screening, User
from ..store.users import authenticate
from ..trial import Criterion
from . import casework as cw
from .state import Ctx, CtxDep, PostCtx, Worksheet, today

MAX_UPLOAD = 50 * 1024 * 1024


def folder_files(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".json")


def given_answers(db: Session, case: Case) -> tuple[list[cw.GivenAnswer], list[int]]:
    names = rec.user_names(db)
    current = rec.current_answers(db, case)
    given = [
        cw.GivenAnswer(a.criterion_id, a.criterion_text, a.answer, names.get(a.user_id, "?"),  # type: ignore[arg-type]
                       a.created_at.date(), a.note)
        for a in current.values()
    ]
    return given, [a.id for a in current.values()]


def case_or_404(db: Session, case_id: int) -> Case:
    case = db.get(Case, case_id)
    if case is None:
        raise HTTPException(404, "no such case")
    return case


def criterion_or_404(entry: LibraryTrial, criterion_id: str) -> Criterion:
    found = next((c for c in entry.trial.criteria if c.id == criterion_id), None)
    if found is None:
        raise HTTPException(404, "no criterion of that id in the trial")
    return found


def screen_case(ws: Worksheet, db: Session, case: Case, user: User, reason: str) -> Screening:
    """Screen the case now with its latest data, current answers and the trial's current rules; store it."""
    entry = ws.entry(case.trial_id)
    data = rec.latest_patient_data(db, case.patient_id)
    if data is None:
        raise HTTPException(409, "no patient data for this candidate yet: upload a record first")
    patient = ws.patient_of(data)
    answers, ids = given_answers(db, case)
    day = today()
    result = cw.run(ws.library, entry, cw.with_answers(patient, entry.id, answers), day)
    return rec.add_screening(
        db, case, data, user, ws.versions(entry, day), result.verdict, reason, result.model_dump_json(), ids
    )


def latest(db: Session, case: Case) -> tuple[Screening, ScreeningResult]:
    rows = rec.screenings(db, case)
    if not rows:
        raise HTTPException(409, "this candidate has not been screened yet")
    return rows[-1], ScreeningResult.model_validate_json(rows[-1].result_json)


def screening_diff(db: Session, rows: list[Screening]) -> cw.Diff | None:
    if len(rows) < 2:
        return None
    a, b = rows[-2], rows[-1]
    return cw.diff(
        ScreeningResult.model_validate_json(a.result_json), ScreeningResult.model_validate_json(b.result_json),
        new_data=a.patient_data_id != b.patient_data_id, new_answers=a.answers_used != b.answers_used,
        new_rules=a.rule_version != b.rule_version, new_engine=a.engine_version != b.engine_version,
    )


def case_pages(ws: Worksheet) -> APIRouter:
    router = APIRouter()

    folder_ids: dict[str, tuple[float, str]] = {}  # file name -> (mtime, patient id), so a folder is read once

    def store_document(ctx: Ctx, content: str, origin: str, source: str) -> PatientData:
        try:
            patient, fmt = cw.read_patient_document(content, origin)
        except EligibilityError as exc:
            raise HTTPException(422, str(exc)) from None
        return rec.add_patient_data(ctx.db, patient.id, fmt, source, content, ctx.user)

    def from_folder(name: str) -> tuple[str, str]:
        folder = ws.settings.patients_dir
        if name not in folder_files(folder):  # only names listed in the folder: no path can leave it
            raise HTTPException(404, "no such file in the patient folder")
        return (folder / name).read_text(encoding="utf-8"), name

    def find_in_folder(ctx: Ctx, patient_id: str) -> PatientData | None:
        """A card link names a patient id; look for that patient's file in the configured folder."""
        for name in folder_files(ws.settings.patients_dir):
            path = ws.settings.patients_dir / name
            stamp = path.stat().st_mtime
            known = folder_ids.get(name)
            if known is not None and known[0] == stamp and known[1] != patient_id:
                continue  # read before, another patient: not read again
            content, _ = from_folder(name)
            try:
                patient, fmt = cw.read_patient_document(content, name)
            except EligibilityError:
                folder_ids[name] = (stamp, "")
                continue
            folder_ids[name] = (stamp, patient.id)
            if patient.id == patient_id:
                return rec.add_patient_data(ctx.db, patient.id, fmt, f"folder: {name}", content, ctx.user)
        return None

    @router.get("/screen")
    def screen_form(request: Request, ctx: CtxDep, trial: str = "", patient: str = "") -> Response:
        ctx.require("coordinator", "investigator")
        if trial:
            ws.entry(trial)  # 404 for an unknown trial
        if trial and patient:
            data = rec.latest_patient_data(ctx.db, patient) or find_in_folder(ctx, patient)
            if data is not None:
                case = rec.get_or_create_case(ctx.db, trial, patient, ctx.user)
                if not rec.screenings(ctx.db, case):
                    screen_case(ws, ctx.db, case, ctx.user, "opened from a CDS Hooks card")
                return RedirectResponse(f"/cases/{case.id}", 303)
        return ws.page(
            request, "screen.html", ctx, trials=ws.trials(), trial=trial, patient=patient,
            files=folder_files(ws.settings.patients_dir), folder=str(ws.settings.patients_dir), error=None,
        )

    @router.post("/screen")
    async def screen_post(
        request: Request, ctx: PostCtx, trial: Annotated[str, Form()],
        upload: Annotated[UploadFile | None, File()] = None, folder_file: Annotated[str, Form()] = "",
        expect_patient: Annotated[str, Form()] = "",
    ) -> Response:
        ctx.require("coordinator", "investigator")
        ws.entry(trial)
        if upload is not None and upload.filename:
            raw = await upload.read(MAX_UPLOAD + 1)
            if len(raw) > MAX_UPLOAD:
                raise HTTPException(413, "the file is larger than 50 MB")
            try:
                content = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise HTTPException(422, f"{upload.filename}: not UTF-8 text") from None
            data = store_document(ctx, content, upload.filename, f"upload: {upload.filename}")
        elif folder_file:
            content, name = from_folder(folder_file)
            data = store_document(ctx, content, name, f"folder: {name}")
        else:
            raise HTTPException(400, "upload a patient file or choose one from the folder")
        if expect_patient and data.patient_id != expect_patient:
            raise HTTPException(422, "that record is of another patient than the one this screening was opened for")
        case = rec.get_or_create_case(ctx.db, trial, data.patient_id, ctx.user)
        screen_case(ws, ctx.db, case, ctx.user, "patient data: " + data.source)
        return RedirectResponse(f"/cases/{case.id}", 303)

    @router.get("/cases/{case_id}")
    def case_page(request: Request, ctx: CtxDep, case_id: int) -> Response:
        case = case_or_404(ctx.db, case_id)
        row, result = latest(ctx.db, case)
        entry = ws.entry(case.trial_id)
        return ws.page(request, "case.html", ctx, case=case, entry=entry, row=row, result=result,
                       data=ctx.db.get(PatientData, row.patient_data_id), stale=row.rule_version != entry.rule_version)

    @router.post("/cases/{case_id}/data")
    async def new_data(
        request: Request, ctx: PostCtx, case_id: int, upload: Annotated[UploadFile, File()],
    ) -> Response:
        ctx.require("coordinator", "investigator")
        case = case_or_404(ctx.db, case_id)
        raw = await upload.read(MAX_UPLOAD + 1)
        if len(raw) > MAX_UPLOAD:
            raise HTTPException(413, "the file is larger than 50 MB")
        try:
            content = raw.decode("utf-8")
            patient, fmt = cw.read_patient_document(content, upload.filename or "upload")
        except (EligibilityError, UnicodeDecodeError) as exc:
            raise HTTPException(422, str(exc)) from None
        if patient.id != case.patient_id:
            raise HTTPException(422, "that record is of another patient than this candidate")
        data = rec.add_patient_data(ctx.db, patient.id, fmt, f"upload: {upload.filename}", content, ctx.user)
        screen_case(ws, ctx.db, case, ctx.user, "new patient data: " + data.source)
        return RedirectResponse(f"/cases/{case.id}/record#changes", 303)

    @router.post("/cases/{case_id}/rescreen")
    def rescreen(ctx: PostCtx, case_id: int) -> Response:
        ctx.require("coordinator", "investigator")
        case = case_or_404(ctx.db, case_id)
        screen_case(ws, ctx.db, case, ctx.user, "re-screen")
        return RedirectResponse(f"/cases/{case.id}/record#changes", 303)

    def case_inputs(ctx: Ctx, case: Case) -> tuple[LibraryTrial, Patient, list[cw.GivenAnswer]]:
        data = rec.latest_patient_data(ctx.db, case.patient_id)
        if data is None:
            raise HTTPException(409, "no patient data for this candidate yet: upload a record first")
        return ws.entry(case.trial_id), ws.patient_of(data), given_answers(ctx.db, case)[0]

    def question_state(ctx: Ctx, case: Case) -> dict[str, Any]:
        entry, patient, answers = case_inputs(ctx, case)
        day = today()
        current = cw.run(ws.library, entry, cw.with_answers(patient, entry.id, answers), day)
        records_only = cw.run(ws.library, entry, patient, day)
        others = [
            m for m in ws.library.match(patient, as_of=day) if m.trial != entry.id and m.verdict == "needs-review"
        ][:10]
        return {
            "entry": entry, "patient": patient, "answers": answers, "current": current, "day": day,
            "questions": cw.ranked_questions(
                ws.library, entry, patient, day, answers, current, [m.result for m in others]
            ),
            "contradictions": cw.contradictions(records_only, answers), "others": others,
        }

    @router.get("/cases/{case_id}/questions")
    def questions(request: Request, ctx: CtxDep, case_id: int) -> Response:
        case = case_or_404(ctx.db, case_id)
        latest(ctx.db, case)
        st = question_state(ctx, case)
        history = rec.all_answers(ctx.db, case)
        return ws.page(request, "questions.html", ctx, case=case, history=history, names=rec.user_names(ctx.db),
                       texts={c.id: c.text for c in st["entry"].trial.criteria}, **st)

    @router.post("/cases/{case_id}/preview")
    def preview(
        request: Request, ctx: PostCtx, case_id: int, criterion: Annotated[str, Form()],
        answer: Annotated[str, Form()] = "",
    ) -> Response:
        case = case_or_404(ctx.db, case_id)
        entry = ws.entry(case.trial_id)
        crit = criterion_or_404(entry, criterion)
        _, patient, answers = case_inputs(ctx, case)
        day = today()
        now_verdict = cw.run(ws.library, entry, cw.with_answers(patient, entry.id, answers), day).verdict
        if answer not in ("yes", "no", "unknown"):
            return ws.page(request, "_preview.html", ctx, verdict=None, before=now_verdict, criterion=criterion)
        choice = cast(cw.Answered, answer)  # checked just above
        what_if = [*answers, cw.GivenAnswer(criterion, crit.text, choice, ctx.user.name, day)]
        after = cw.run(ws.library, entry, cw.with_answers(patient, entry.id, what_if), day)
        return ws.page(request, "_preview.html", ctx, verdict=after.verdict, before=now_verdict, criterion=criterion)

    @router.post("/cases/{case_id}/answers")
    def answer(
        ctx: PostCtx, case_id: int, criterion: Annotated[str, Form()], answer: Annotated[str, Form()],
        note: Annotated[str, Form()] = "",
    ) -> Response:
        ctx.require("coordinator", "investigator")
        case = case_or_404(ctx.db, case_id)
        entry = ws.entry(case.trial_id)
        crit = criterion_or_404(entry, criterion)
        if answer not in rec.ANSWERS:
            raise HTTPException(400, "answer yes, no or not known")
        rec.add_answer(ctx.db, case, crit.id, crit.text, answer, note, ctx.user, ws.versions(entry, today()))
        screen_case(ws, ctx.db, case, ctx.user, f"answer to {crit.id}: {answer}")
        return RedirectResponse(f"/cases/{case.id}/questions#answered", 303)

    def missing_signatures(db: Session, case: Case, row: Screening, verdict: str) -> list[str]:
        """Roles whose signature of the latest screening is still needed (investigator: for an eligible one)."""
        sigs = rec.signatures(db, case)
        withdrawn = {s.supersedes_id for s in sigs if s.withdrawn}
        valid = {s.role for s in sigs if not s.withdrawn and s.id not in withdrawn and s.screening_id == row.id}
        needed = ["coordinator"] + (
            ["investigator"] if ws.settings.investigator_signature and verdict == "eligible" else []
        )
        return [r for r in needed if r not in valid]

    @router.get("/cases/{case_id}/record")
    def record(request: Request, ctx: CtxDep, case_id: int) -> Response:
        case = case_or_404(ctx.db, case_id)
        row, result = latest(ctx.db, case)
        rows = rec.screenings(ctx.db, case)
        sigs = rec.signatures(ctx.db, case)
        withdrawn = {s.supersedes_id for s in sigs if s.withdrawn}
        events = rec.status_events(ctx.db, case)
        entry = ws.entry(case.trial_id)
        missing = missing_signatures(ctx.db, case, row, result.verdict)
        return ws.page(
            request, "record.html", ctx, case=case, entry=entry, row=row, result=result, rows=rows, sigs=sigs,
            withdrawn=withdrawn, events=events, status=events[-1] if events else None, missing=missing,
            diff=screening_diff(ctx.db, rows), answers=rec.all_answers(ctx.db, case), names=rec.user_names(ctx.db),
            statuses=rec.STATUSES, stale=row.rule_version != entry.rule_version,
            can_sign=ctx.user.role in ("coordinator", "investigator"), error=request.query_params.get("error"),
        )

    @router.post("/cases/{case_id}/sign")
    def sign(
        ctx: PostCtx, case_id: int, screening: Annotated[int, Form()], password: Annotated[str, Form()],
        meaning: Annotated[str, Form()] = "",
    ) -> Response:
        ctx.require("coordinator", "investigator")
        case = case_or_404(ctx.db, case_id)
        row, _ = latest(ctx.db, case)
        if screening != row.id:
            raise HTTPException(409, "a newer screening exists: review it before signing")
        if authenticate(ctx.db, ctx.user.name, password) is None:
            return RedirectResponse(f"/cases/{case.id}/record?error=password#sign", 303)
        role = "investigator" if ctx.user.role == "investigator" else "coordinator"
        text = meaning.strip() or (
            "I reviewed this pre-screening and its answers" if role == "coordinator"
            else "I confirm the eligibility assessment"
        )
        stamp = rec.Versions(row.rule_version, row.engine_version, row.as_of)  # the screening signed
        rec.add_signature(ctx.db, case, row, role, text, ctx.user, stamp)
        return RedirectResponse(f"/cases/{case.id}/record#signatures", 303)

    @router.post("/cases/{case_id}/signatures/{signature_id}/withdraw")
    def withdraw(
        ctx: PostCtx, case_id: int, signature_id: int, password: Annotated[str, Form()],
        reason: Annotated[str, Form()],
    ) -> Response:
        """A signer withdraws their own signature: a new row that supersedes it (both stay on the record)."""
        case = case_or_404(ctx.db, case_id)
        sigs = rec.signatures(ctx.db, case)
        target = next((s for s in sigs if s.id == signature_id and not s.withdrawn), None)
        if target is None or any(s.supersedes_id == signature_id for s in sigs):
            raise HTTPException(404, "no signature of that number to withdraw")
        if target.user_id != ctx.user.id:
            raise HTTPException(403, "only the signer can withdraw a signature")
        if not reason.strip():
            raise HTTPException(400, "say why the signature is withdrawn")
        if authenticate(ctx.db, ctx.user.name, password) is None:
            return RedirectResponse(f"/cases/{case.id}/record?error=password#signatures", 303)
        screening = ctx.db.get(Screening, target.screening_id)
        assert screening is not None
        stamp = rec.Versions(screening.rule_version, screening.engine_version, screening.as_of)
        rec.add_signature(ctx.db, case, screening, target.role, f"withdrawn: {reason.strip()}", ctx.user, stamp,
                          withdraw=target)
        return RedirectResponse(f"/cases/{case.id}/record#signatures", 303)

    @router.post("/cases/{case_id}/status")
    def status(
        ctx: PostCtx, case_id: int, status: Annotated[str, Form()], reason: Annotated[str, Form()] = "",
    ) -> Response:
        ctx.require("coordinator", "investigator")
        case = case_or_404(ctx.db, case_id)
        row, result = latest(ctx.db, case)
        if status == "enrolled":  # consent may come first: it is often a criterion itself
            if result.verdict != "eligible":
                raise HTTPException(409, f"the latest screening is {result.verdict}: only an eligible one enrols")
            missing = missing_signatures(ctx.db, case, row, result.verdict)
            if missing:
                raise HTTPException(409, f"the latest screening still needs the signature of: {', '.join(missing)}")
        try:
            rec.add_status(ctx.db, case, status, reason, ctx.user,
                           rec.Versions(row.rule_version, row.engine_version, row.as_of))
        except EligibilityError as exc:
            raise HTTPException(400, str(exc)) from None
        return RedirectResponse(f"/cases/{case.id}/record#status", 303)

    @router.get("/cases")
    def case_list(request: Request, ctx: CtxDep) -> Response:
        from sqlalchemy import select

        cases = list(ctx.db.scalars(select(Case).order_by(Case.id.desc()).limit(200)))
        latest_rows: dict[int, Screening | None] = {}
        for c in cases:
            rows = rec.screenings(ctx.db, c)
            latest_rows[c.id] = rows[-1] if rows else None
        return ws.page(request, "cases.html", ctx, cases=cases, latest=latest_rows)

    return router


def answers_json(db: Session, case: Case) -> list[dict[str, object]]:
    names = rec.user_names(db)
    return [
        {
            "id": a.id, "criterion": a.criterion_id, "answer": a.answer, "note": a.note, "by": names.get(a.user_id),
            "at": a.created_at.isoformat(), "supersedes": a.supersedes_id, "rule_version": a.rule_version,
            "engine_version": a.engine_version, "as_of": a.as_of.isoformat(),
        }
        for a in rec.all_answers(db, case)
    ]
