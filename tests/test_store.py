"""The worksheet store on SQLite (always) and PostgreSQL (a throwaway loopback cluster, when installed)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError

from eligibility.errors import InputError
from eligibility.store import Store, open_store
from eligibility.store import records as r
from eligibility.store.db import current_revision, now
from eligibility.store.models import Answer, LoginSession, Screening, Signature, StatusEvent, User
from eligibility.store.users import add_user, authenticate, end_session, session_user, start_session

from .pg_cluster import postgres_url  # noqa: F401  (fixture)

V = r.Versions(rule_version="abc123", engine_version="0.1.0", as_of=date(2026, 11, 30))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(tmp_path / "data")
    else:
        base = request.getfixturevalue("postgres_url")
        name = "t_" + uuid.uuid4().hex[:12]
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        s = open_store(tmp_path / "data", base.rsplit("/", 1)[0] + "/" + name)
    yield s
    s.close()


def _user(store: Store, name: str = "casey", role: str = "coordinator") -> User:
    with store.session() as db:
        return add_user(db, name, role, "correct horse battery")


def test_migrations_create_the_schema_and_reopening_is_idempotent(store: Store, tmp_path: Path) -> None:
    assert current_revision(store.engine) == "0001"
    with store.engine.connect() as conn:
        names = set(store.engine.dialect.get_table_names(conn))
    assert {"users", "sessions", "cases", "patient_data", "screenings", "answers", "signatures"} <= names
    # opening again runs the migrations again: nothing to do, nothing lost
    _user(store)
    again = Store(store.engine)
    from eligibility.store.db import migrate

    migrate(again.engine)
    with again.session() as db:
        assert [u.name for u in db.scalars(select(User))] == ["casey"]


def test_sqlite_file_lives_in_the_data_folder(tmp_path: Path) -> None:
    s = open_store(tmp_path / "site")
    s.close()
    assert (tmp_path / "site" / "worksheet.sqlite3").is_file()


@pytest.mark.parametrize(
    ("name", "role", "password", "field"),
    [
        ("dana", "nurse", "long enough pw", "role"),
        ("dana", "coordinator", "short", "password"),
        ("two words", "coordinator", "long enough pw", "name"),
        ("", "admin", "long enough pw", "name"),
    ],
)
def test_bad_accounts_are_refused_naming_the_field(store: Store, name: str, role: str, password: str,
                                                   field: str) -> None:
    with store.session() as db, pytest.raises(InputError) as err:
        add_user(db, name, role, password)
    assert err.value.field == field


def test_passwords_are_argon2_hashes_and_authentication_checks_them(store: Store) -> None:
    _user(store)
    with store.session() as db:
        row = db.scalar(select(User).where(User.name == "casey"))
        assert row is not None
        assert row.password_hash.startswith("$argon2id$")
        assert "horse" not in row.password_hash
        assert authenticate(db, "casey", "correct horse battery") is not None
        assert authenticate(db, "casey", "wrong horse battery") is None
        assert authenticate(db, "nobody", "correct horse battery") is None
        with pytest.raises(InputError):
            add_user(db, "casey", "admin", "another password")


def test_sessions_start_resolve_expire_and_end(store: Store) -> None:
    user = _user(store)
    with store.session() as db:
        token, row = start_session(db, user)
        found = session_user(db, token)
        assert found is not None and found[0].name == "casey" and found[1].csrf == row.csrf
        assert db.get(LoginSession, token) is None  # only the digest is stored
        assert session_user(db, token + "x") is None
        end_session(db, token)
        assert session_user(db, token) is None
        old, _expired = start_session(db, user, hours=-1)
        assert session_user(db, old) is None


def test_a_corrected_answer_supersedes_and_both_are_kept(store: Store) -> None:
    user = _user(store)
    with store.session() as db:
        case = r.get_or_create_case(db, "NCT1", "p-1", user)
        first = r.add_answer(db, case, "E2", "Pregnant", "yes", "asked the patient", user, V)
        second = r.add_answer(db, case, "E2", "Pregnant", "no", "test was negative", user, V)
        r.add_answer(db, case, "I1", "Adult", "unknown", "", user, V)
        current = r.current_answers(db, case)
        assert current["E2"].id == second.id and current["E2"].answer == "no"
        assert second.supersedes_id == first.id
        assert [a.answer for a in r.all_answers(db, case)] == ["yes", "no", "unknown"]
        with pytest.raises(InputError):
            r.add_answer(db, case, "E2", "Pregnant", "maybe", "", user, V)


def test_every_audit_row_names_user_utc_time_and_versions(store: Store) -> None:
    user = _user(store)
    with store.session() as db:
        case = r.get_or_create_case(db, "NCT1", "p-1", user)
        data = r.add_patient_data(db, "p-1", "native", "upload.json", '{"id": "p-1"}', user)
        assert r.add_patient_data(db, "p-1", "native", "again.json", '{"id": "p-1"}', user).id == data.id
        s = r.add_screening(db, case, data, user, V, "needs-review", "new data", "{}", [])
        rows: list[Screening | Answer | Signature | StatusEvent] = [
            s,
            r.add_answer(db, case, "E1", "x", "yes", "", user, V),
            r.add_signature(db, case, s, "coordinator", "I pre-screened this candidate", user, V),
            r.add_status(db, case, "contacted", "", user, V),
        ]
    with store.session() as db:
        for row in rows:
            fresh = cast(Screening | Answer | Signature | StatusEvent | None, db.get(type(row), row.id))
            assert fresh is not None
            assert fresh.user_id == user.id
            assert (fresh.rule_version, fresh.engine_version, fresh.as_of) == ("abc123", "0.1.0", date(2026, 11, 30))
            stamp = fresh.created_at
            assert stamp.utcoffset() == timedelta(0)  # aware UTC, on SQLite too
            assert abs((stamp - now()).total_seconds()) < 3600


def test_screen_failure_needs_a_reason(store: Store) -> None:
    user = _user(store)
    with store.session() as db:
        case = r.get_or_create_case(db, "NCT1", "p-1", user)
        with pytest.raises(InputError):
            r.add_status(db, case, "screen-failed", "  ", user, V)
        with pytest.raises(InputError):
            r.add_status(db, case, "randomised", "", user, V)
        assert r.add_status(db, case, "screen-failed", "platelets too low", user, V).reason == "platelets too low"


def test_audit_rows_cannot_be_changed_through_the_orm(store: Store) -> None:
    user = _user(store)
    with store.session() as db:
        case = r.get_or_create_case(db, "NCT1", "p-1", user)
        a = r.add_answer(db, case, "E1", "x", "yes", "", user, V)
        a.answer = "no"
        with pytest.raises(InputError, match="append-only"):
            db.commit()
        db.rollback()
        db.delete(db.get(Answer, a.id))
        with pytest.raises(InputError, match="append-only"):
            db.commit()


@pytest.mark.parametrize("statement", ["UPDATE answers SET answer = 'no'", "DELETE FROM answers"])
def test_the_database_refuses_updates_and_deletes_of_audit_rows(store: Store, statement: str) -> None:
    user = _user(store)
    with store.session() as db:
        case = r.get_or_create_case(db, "NCT1", "p-1", user)
        r.add_answer(db, case, "E1", "x", "yes", "", user, V)
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text(statement))
    with store.session() as db:
        assert [a.answer for a in db.scalars(select(Answer))] == ["yes"]


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = open_store(tmp_path_factory.mktemp("shared"))
    yield s
    s.close()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["I1", "I2", "E1"]), st.sampled_from(r.ANSWERS)), max_size=12))
def test_current_answer_is_the_last_one_given(shared_store: Store, given_answers: list[tuple[str, str]]) -> None:
    with shared_store.session() as db:
        user = db.scalar(select(User)) or add_user(db, "casey", "coordinator", "correct horse battery")
        case = r.get_or_create_case(db, uuid.uuid4().hex, "p-1", user)  # a new case per example
        for cid, ans in given_answers:
            r.add_answer(db, case, cid, cid, ans, "", user, V)
        expected = {cid: ans for cid, ans in given_answers}
        assert {k: v.answer for k, v in r.current_answers(db, case).items()} == expected
        assert len(r.all_answers(db, case)) == len(given_answers)


def test_users_add_reads_the_password_from_stdin_and_refuses_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from eligibility.cli import app

    runner = CliRunner()
    data = tmp_path / "site"
    ok = runner.invoke(app, ["users", "add", "casey", "--role", "investigator", "--data", str(data)],
                       input="a long enough password\n")
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(app, ["users", "add", "casey", "--role", "admin", "--data", str(data)], input="x" * 12)
    bad_role = runner.invoke(app, ["users", "add", "dana", "--role", "nurse", "--data", str(data)], input="x" * 12)
    assert (again.exit_code, bad_role.exit_code) == (2, 2)
    assert "already exists" in again.output and "nurse" in bad_role.output
    listed = runner.invoke(app, ["users", "list", "--data", str(data)])
    assert listed.output.split() == ["casey", "investigator", "active"]
    s = open_store(data)
    with s.session() as db:
        assert authenticate(db, "casey", "a long enough password") is not None
    s.close()
