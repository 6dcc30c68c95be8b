"""The web console's one-time sign-in links: each link's id once redeemed, by whom
and when (kept a day, then forgotten).
"""

from __future__ import annotations

from alembic import op

from infrastructure.migrations.sql import table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade(schema: str | None) -> None:
    bind = op.get_bind()
    name = table(schema, "casetrail_console_links")
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql(f"CREATE TABLE {name} (jti TEXT PRIMARY KEY, "
                             "user_id TEXT NOT NULL, used_at TEXT NOT NULL) WITHOUT ROWID")
    else:
        bind.exec_driver_sql(f"CREATE TABLE {name} (jti text PRIMARY KEY, "
                             "user_id text NOT NULL, used_at timestamptz NOT NULL)")
