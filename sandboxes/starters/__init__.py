"""Built-in starter manifests, shipped as real files next to this module."""

from __future__ import annotations

from pathlib import Path

from django.db import transaction

from ..models import Manifest, ManifestEntry

STARTERS_DIR = Path(__file__).resolve().parent

BUILTIN_STARTERS = [
    {
        "slug": "vite-react",
        "name": "Vite + React starter",
        "description": (
            "A minimal Vite + React app (package.json, index.html, vite.config.js, "
            "src/main.tsx, src/App.tsx) that npm install, then npm run dev, serves; "
            "agents usually edit src/App.tsx."
        ),
    },
    {
        "slug": "fullstack-sample",
        "name": "Full-stack sample repo (notes app)",
        "description": (
            "A small React + Python (standard library) notes app with a few real problems left "
            "in it; the full-stack code review preset reviews it with frontend, backend and "
            "repo lanes."
        ),
    },
    {
        "slug": "research-notes",
        "name": "Research notes",
        "description": "An empty notes workspace for research agents (the deep research preset).",
    },
]


def starter_files(slug: str) -> dict[str, str]:
    root = STARTERS_DIR / slug
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@transaction.atomic
def seed_builtin_starters() -> list[Manifest]:
    """Create or refresh the built-in starters so they match the shipped files."""
    manifests = []
    for starter in BUILTIN_STARTERS:
        manifest, _ = Manifest.objects.update_or_create(
            slug=starter["slug"],
            is_builtin=True,
            defaults={"name": starter["name"], "description": starter["description"]},
        )
        files = starter_files(starter["slug"])
        manifest.entries.exclude(path__in=files).delete()
        for path, content in files.items():
            ManifestEntry.objects.update_or_create(
                manifest=manifest, path=path, defaults={"content": content}
            )
        manifests.append(manifest)
    return manifests
