"""The worksheet's first schema: users, sessions, cases, patient data and the append-only audit tables.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("patient_data", "screenings", "answers", "signatures", "status_events", "rule_reviews")


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _audited() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("rule_version", sa.String(80), nullable=False),
        sa.Column("engine_version", sa.String(40), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("expires_at", _tz(), nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.String(120), nullable=False),
        sa.Column("patient_id", sa.String(200), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.UniqueConstraint("trial_id", "patient_id"),
    )
    op.create_table(
        "patient_data",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.String(200), nullable=False, index=True),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    )
    op.create_table(
        "screenings",
        *_audited(),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("patient_data_id", sa.Integer, sa.ForeignKey("patient_data.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("result_json", sa.Text, nullable=False),
        sa.Column("answers_used", sa.Text, nullable=False),
    )
    op.create_table(
        "answers",
        *_audited(),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("criterion_id", sa.String(80), nullable=False),
        sa.Column("criterion_text", sa.Text, nullable=False),
        sa.Column("answer", sa.String(10), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("supersedes_id", sa.Integer, sa.ForeignKey("answers.id"), nullable=True),
    )
    op.create_table(
        "signatures",
        *_audited(),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("screening_id", sa.Integer, sa.ForeignKey("screenings.id"), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("meaning", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("supersedes_id", sa.Integer, sa.ForeignKey("signatures.id"), nullable=True),
        sa.Column("withdrawn", sa.Boolean, nullable=False),
    )
    op.create_table(
        "status_events",
        *_audited(),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    )
    op.create_table(
        "rule_reviews",
        *_audited(),
        sa.Column("trial_id", sa.String(120), nullable=False, index=True),
        sa.Column("criterion_id", sa.String(80), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("reading", sa.Text, nullable=False),
        sa.Column("new_rule_version", sa.String(80), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    )
    _append_only_triggers()


def _append_only_triggers() -> None:
    """The database itself refuses UPDATE and DELETE on the audit tables, whoever connects."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION eligibility_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION eligibility_append_only()"
            )


def downgrade() -> None:
    for table in ("rule_reviews", "status_events", "signatures", "answers", "screenings", "patient_data"):
        op.drop_table(table)
    for table in ("cases", "sessions", "users"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS eligibility_append_only()")
