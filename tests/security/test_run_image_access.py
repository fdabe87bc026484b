"""Images tools returned in a run are served to the run's owner only, and never as a page that
can run code on the dashboard's origin (an SVG opened on its own is sandboxed)."""

from __future__ import annotations

import os

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from runs.models import RunImage

from ..conftest import login

pytestmark = pytest.mark.django_db

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'


def stored(run, data: bytes, media_type: str) -> RunImage:
    image = RunImage(run=run, media_type=media_type, size=len(data))
    image.image.save("tool-image", ContentFile(data), save=True)
    return image


def test_only_the_runs_owner_gets_its_images(alice, bob, alice_run):
    image = stored(alice_run, b"\x89PNG\r\n\x1a\nrest", "image/png")
    url = reverse("run_image", args=[image.pk])
    assert login(Client(), alice).get(url).status_code == 200
    assert login(Client(), bob).get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to the login page


def test_an_svg_is_served_sandboxed_without_scripts(alice, alice_run):
    image = stored(alice_run, SVG, "image/svg+xml")
    response = login(Client(), alice).get(reverse("run_image", args=[image.pk]))
    policy = response["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy
    assert "script-src" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "image/svg+xml"


def test_deleting_a_run_removes_its_image_files(alice_run):
    image = stored(alice_run, b"\x89PNG\r\n\x1a\nrest", "image/png")
    path = image.image.path
    assert os.path.exists(path)
    alice_run.delete()
    assert not os.path.exists(path)
