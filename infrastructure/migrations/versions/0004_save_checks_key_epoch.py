"""PostgreSQL's save function takes the key epoch a remembered case was read at and
refuses the save when a customer key was destroyed since (RET-4): a process's cache
of recently commanded cases may hold what that key sealed. SQLite checks the same
in the save's transaction, so it has nothing to change here.
"""

from __future__ import annotations

from alembic import op

from infrastructure.migrations.sql import run_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade(schema: str | None) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        run_file(bind, __file__.replace(".py", ""), schema)
