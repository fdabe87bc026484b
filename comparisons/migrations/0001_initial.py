"""Comparison, Version and ShareLink, taken over from sandboxes with their tables as they are.

State only, plus the content types: admin permissions and log entries follow the models.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = ("comparison", "version", "sharelink")


def content_types_follow(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        if ContentType.objects.using(db).filter(app_label="comparisons", model=model).exists():
            continue
        ContentType.objects.using(db).filter(app_label="sandboxes", model=model).update(
            app_label="comparisons"
        )


def content_types_go_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    ContentType.objects.using(db).filter(app_label="comparisons", model__in=MOVED).update(
        app_label="sandboxes"
    )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("runs", "0002_lanes_and_mcp"),
        ("sandboxes", "0005_comparisons_move_to_their_app"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Comparison",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("title", models.CharField(max_length=200)),
                        ("config", models.JSONField(default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "manifest",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to="sandboxes.manifest",
                            ),
                        ),
                        (
                            "owner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={"db_table": "sandboxes_comparison", "ordering": ["-created_at"]},
                ),
                migrations.CreateModel(
                    name="ShareLink",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("salt", models.CharField(editable=False, max_length=64)),
                        ("expires_at", models.DateTimeField()),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "comparison",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="shares",
                                to="comparisons.comparison",
                            ),
                        ),
                        (
                            "owner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "preview",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="shares",
                                to="sandboxes.preview",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sandboxes_sharelink",
                        "ordering": ["-created_at"],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("comparison__isnull", False),
                                    ("preview__isnull", False),
                                    _connector="OR",
                                ),
                                name="share_has_target",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Version",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("label", models.CharField(max_length=80)),
                        ("prompt", models.TextField()),
                        ("position", models.PositiveIntegerField(default=0)),
                        (
                            "stage",
                            models.CharField(
                                choices=[
                                    ("sandbox", "Creating sandbox"),
                                    ("running", "Agent running"),
                                    ("preview", "Starting preview"),
                                    ("ready", "Ready"),
                                    ("failed", "Failed"),
                                ],
                                default="sandbox",
                                max_length=20,
                            ),
                        ),
                        ("error", models.TextField(blank=True)),
                        ("files_changed", models.JSONField(blank=True, default=list)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "comparison",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="versions",
                                to="comparisons.comparison",
                            ),
                        ),
                        (
                            "preview",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to="sandboxes.preview",
                            ),
                        ),
                        (
                            "run",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to="runs.run",
                            ),
                        ),
                        (
                            "session",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to="sandboxes.sandboxsession",
                            ),
                        ),
                    ],
                    options={"db_table": "sandboxes_version", "ordering": ["position", "pk"]},
                ),
            ],
        ),
        migrations.RunPython(content_types_follow, content_types_go_back),
    ]
