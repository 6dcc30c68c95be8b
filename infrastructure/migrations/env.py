"""Alembic's entry point: runs on the locked connection `upgrade` hands over, inside
its transaction (so the run commits, or not, with the version row)."""

from alembic import context

from infrastructure.migrations import VERSION_TABLE

config = context.config
context.configure(
    connection=config.attributes["connection"],
    version_table=VERSION_TABLE,
    version_table_schema=config.attributes["schema"],
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations(schema=config.attributes["schema"])
