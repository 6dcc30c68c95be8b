"""casetrail 0.1.0's schema, as its `db init` made it: the event store's tables (the
library's), the chain, index, idempotency, key, checkpoint and report-run tables,
the save function, and the views with their tracking tables.

Every statement is idempotent (IF NOT EXISTS, OR REPLACE, ON CONFLICT DO NOTHING),
so a 0.1.0 database, made before there was a version table, upgrades through it
unchanged.
"""

from __future__ import annotations

from alembic import op

from infrastructure.migrations.sql import run_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(schema: str | None) -> None:
    run_file(op.get_bind(), __file__.replace(".py", ""), schema)
