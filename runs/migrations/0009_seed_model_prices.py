"""Seed the price table with OpenAI's public prices (US dollars per million tokens, as of
March 2026) of the models the dashboard offers, and 0 for the offline demo model."""

from decimal import Decimal

from django.db import migrations

PRICES = {
    # model: (input, cached input, output)
    "gpt-5.4": ("2.50", "0.25", "15.00"),
    "gpt-5.4-mini": ("0.75", "0.075", "4.50"),
    "demo": ("0", "0", "0"),
}


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("runs", "ModelPrice")
    for model, (fresh, cached, output) in PRICES.items():
        ModelPrice.objects.get_or_create(
            model=model,
            defaults={
                "input_per_million": Decimal(fresh),
                "cached_input_per_million": Decimal(cached),
                "output_per_million": Decimal(output),
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("runs", "ModelPrice").objects.filter(model__in=PRICES).delete()


class Migration(migrations.Migration):
    dependencies = [("runs", "0008_run_insight")]

    operations = [migrations.RunPython(seed, unseed)]
