"""runs and workers: raw entry hashes, credited sources, posting rate, shared counters

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 22:00:00

- entries.raw_hash: the entry as parsed, so an unchanged entry is skipped before normalising;
- entries.credits: the sources an entry names as its origin (representative election reads
  these instead of every member's whole text);
- feeds.posting_seconds: the feed's posting rate, so a 304 is scheduled without a query;
- feeds.boilerplate_seq: when the feed's learned boilerplate last changed (worker catch-up);
- meta: counters every process shares ("changes", "cluster_epoch").
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw_hash", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("credits", sa.Text(), nullable=True))
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("posting_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("boilerplate_seq", sa.BigInteger(), nullable=False, server_default="0"))
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )
    op.bulk_insert(meta, [{"key": "changes", "value": 0}, {"key": "cluster_epoch", "value": 0}])


def downgrade() -> None:
    op.drop_table("meta")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("boilerplate_seq")
        batch_op.drop_column("posting_seconds")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_column("credits")
        batch_op.drop_column("raw_hash")
