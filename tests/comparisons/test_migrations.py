"""Comparisons moved apps without moving tables: rows written before the move are there after
it, and admin permissions and log entries (content types) follow the models."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [
    ("sandboxes", "0004_session_timeout_and_docker"),
    ("runs", "0002_lanes_and_mcp"),
    ("contenttypes", "0002_remove_content_type_name"),
    ("auth", "0012_alter_user_first_name_max_length"),
]
AFTER = [("comparisons", "0001_initial")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_comparisons_rows_and_content_types_survive_the_move_to_their_app(alice):
    old = migrate(BEFORE)
    ContentType = old.get_model("contenttypes", "ContentType")
    Permission = old.get_model("auth", "Permission")
    old_type, _ = ContentType.objects.get_or_create(app_label="sandboxes", model="comparison")
    permission = Permission.objects.create(
        name="Can view comparison", codename="view_comparison_x", content_type=old_type
    )
    Comparison = old.get_model("sandboxes", "Comparison")
    made = Comparison.objects.create(owner_id=alice.pk, title="before the move", config={})

    new = migrate(AFTER)
    moved = new.get_model("comparisons", "Comparison").objects.get(pk=made.pk)
    assert moved.title == "before the move"
    old_type.refresh_from_db()
    assert (old_type.app_label, old_type.model) == ("comparisons", "comparison")
    permission.refresh_from_db()
    assert permission.content_type_id == old_type.pk

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # back to the latest
    from comparisons.models import Comparison as Current

    assert Current.objects.get(pk=made.pk).title == "before the move"
