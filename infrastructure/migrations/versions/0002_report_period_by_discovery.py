"""Reports count an exception in the period it was discovered (002 art. 9-10: the
exceptions that occurred in the week or month), no longer in the one it was
entered in: the reporting view is emptied here and refilled from the log by the
worker (`casetrail rebuild reports` does it at once).
"""

from __future__ import annotations

from alembic import op

from infrastructure.migrations.sql import rebuild_view

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade(schema: str | None) -> None:
    rebuild_view(op.get_bind(), schema, "reports", "casetrail_report_facts")
