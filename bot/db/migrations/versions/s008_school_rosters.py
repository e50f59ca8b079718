"""Class rosters, how each session's participants matched them, and per-class attendance rules.

Revision ID: s008
Revises: s007

``roster_students``: one row per student of a class roster (a CSV upload), with a stable
``roster_student_id`` that survives re-uploads (keyed by the CSV's ``student_id``) and the
student's opt-out. ``roster_matches``: per session participant, the roster student it was
matched to, how (exact, alias, email, fuzzy, ambiguous, unmatched) and whether that is
``confirmed`` (certain tiers, or the teacher's decision). ``session_rosters``: the roster names
a session expected when it started, whether its platform shows the bot every participant, and
the class's thresholds then (a report rendered again later says the same). ``classes`` gains the
late / absent thresholds in minutes (defaults 5 and 15).
"""

import sqlalchemy as sa
from alembic import op

revision = "s008"
down_revision = "s007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_students",
        sa.Column("roster_student_id", sa.String(32), primary_key=True),
        sa.Column("class_id", sa.String(64), nullable=False, index=True),
        sa.Column("student_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("aliases", sa.String(1000), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("opted_out", sa.Boolean, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("uploaded_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("class_id", "student_id", name="uq_roster_students_class_student"),
    )
    op.create_table(
        "roster_matches",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.String(64), primary_key=True),
        sa.Column("class_id", sa.String(64), nullable=False, index=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("roster_student_id", sa.String(32), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("candidates", sa.String(1000), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("confirmed", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "session_rosters",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("class_id", sa.String(64), nullable=False, index=True),
        sa.Column("students", sa.Text, nullable=False),
        sa.Column("sees_everyone", sa.Boolean, nullable=False),
        sa.Column("late_after_s", sa.Float, nullable=False),
        sa.Column("absent_after_s", sa.Float, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    with op.batch_alter_table("classes") as batch:
        batch.add_column(sa.Column("late_after_min", sa.Float, nullable=False, server_default="5"))
        batch.add_column(sa.Column("absent_after_min", sa.Float, nullable=False, server_default="15"))


def downgrade() -> None:
    with op.batch_alter_table("classes") as batch:
        batch.drop_column("absent_after_min")
        batch.drop_column("late_after_min")
    op.drop_table("session_rosters")
    op.drop_table("roster_matches")
    op.drop_table("roster_students")
