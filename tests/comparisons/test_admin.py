"""The admin of comparisons: previews, comparisons and share links listed, a link's salt and
token never shown."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from comparisons.models import Comparison
from comparisons.shares import share_create, share_token
from sandboxes.models import Preview, SandboxSession

from ..conftest import PASSWORD


@pytest.mark.django_db
def test_admin_lists_previews_comparisons_and_share_links_without_their_salt(client, alice):
    session = SandboxSession.objects.create(owner=alice, name="s", status="running")
    Preview.objects.create(session=session)
    comparison = Comparison.objects.create(owner=alice, title="cmp")
    share = share_create(owner=alice, comparison=comparison, expires_in=timedelta(hours=1))
    get_user_model().objects.create_superuser("root", "", PASSWORD)
    client.login(username="root", password=PASSWORD)
    for name in ("sandboxes_preview", "comparisons_comparison", "comparisons_sharelink"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    page = client.get(reverse("admin:comparisons_sharelink_change", args=[share.pk])).content
    assert share.salt.encode() not in page
    assert share_token(share).encode() not in page
