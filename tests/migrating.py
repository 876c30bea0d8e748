"""Running a data migration for real in a test: migrate one app back to the migration
before it, write rows with the models of that state, migrate forward, read them back.

Use in a ``django_db(transaction=True)`` test (schema changes cannot run inside the test's
transaction). ``latest()`` puts the whole database back, whatever happened."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(app: str, name: str):
    """Migrate ``app`` to migration ``name``; the models of that state (an ``apps``)."""
    executor = MigrationExecutor(connection)
    target = [(app, name)]
    executor.migrate(target)
    executor.loader.build_graph()
    return executor.loader.project_state(target).apps


def latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
