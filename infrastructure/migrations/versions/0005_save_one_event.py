"""PostgreSQL's one-event save function, `casetrail_save_one`: the save of most
commands, doing what `casetrail_save` does with the event and its link as plain
values rather than arrays (issue 22, B1: the call's shape cost more than its
writes). SQLite saves in the recorder's own transaction: nothing changes there.
"""

from __future__ import annotations

from alembic import op

from infrastructure.migrations.sql import run_file

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade(schema: str | None) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        run_file(bind, __file__.replace(".py", ""), schema)
