"""Comparison, Version and ShareLink now belong to the comparisons app (same tables).

State only: nothing in the database changes; comparisons.0001 takes the models over.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("sandboxes", "0004_session_timeout_and_docker"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ShareLink"),
                migrations.DeleteModel(name="Version"),
                migrations.DeleteModel(name="Comparison"),
            ],
            database_operations=[],
        ),
    ]
