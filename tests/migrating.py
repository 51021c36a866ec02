"""Moving the test database's schema back to a migration and forward again, for the tests of
data migrations and their reversal.

Django's executor renders the whole project state once and then mutates it through the plan;
with this project's models tied to the user and the patient, each mutation renders dozens of
related models again. Undoing intake's last migrations and their 12 dependents took 36 s on
PostgreSQL, most of it in that walk through every later migration of the full plan. Here each
migration is applied or undone against the state of its own ancestors, rendered once: exactly
the models its author could name (a migration that reaches an app it does not depend on fails
here, as it would on a database where that app migrated later), for a quarter of the cost.

It models the schema by dependencies, as a fresh install builds it, not every upgrade path:
an operation that reaches into tables of apps that do not depend on it (renaming a model or
its table, changing a primary key that foreign keys point at) would update those tables under
Django's executor and not here, so a plan holding one is refused."""

from django.db import connection
from django.db.migrations import AlterField, AlterModelTable, RenameModel
from django.db.migrations.executor import MigrationExecutor

Target = tuple[str, str]


def migrate(targets: list[Target] | None = None) -> None:
    """Move the schema to `targets` (None: the latest migration of every app)."""
    executor = MigrationExecutor(connection)
    if targets is None:
        targets = latest()
    plan = executor.migration_plan(targets)
    if len({backwards for _, backwards in plan}) > 1:
        raise ValueError(f"a plan both forwards and backwards: {plan}")
    for migration, _ in plan:
        for operation in migration.operations:
            if isinstance(operation, (RenameModel, AlterModelTable)) or (
                isinstance(operation, AlterField) and operation.field.primary_key
            ):
                raise ValueError(f"{migration}: {operation.describe()}; use Django's executor")
    for migration, backwards in plan:  # Django's order: dependencies (backwards: dependents) first
        before = executor.loader.project_state((migration.app_label, migration.name), at_end=False)
        if backwards:
            executor.unapply_migration(before, migration)
        else:
            executor.apply_migration(before, migration)


def latest(app_label: str | None = None) -> list[Target]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes(app_label)
