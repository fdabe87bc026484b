"""The preview proxy's rule for share links: which previews a share's grant opens.

Registered with sandboxes.grants in ComparisonsConfig.ready(); asked on every request, so a
revoked or expired link stops working at once.
"""

from __future__ import annotations

from django.utils import timezone

from sandboxes.grants import make_grant
from sandboxes.models import Preview

from .models import ShareLink, Version


def grant_for_share(preview: Preview, share: ShareLink) -> str:
    return make_grant(preview, s=share.pk)


async def share_opens_preview(share_id: int, preview: Preview) -> bool:
    share = await ShareLink.objects.filter(
        pk=share_id, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).afirst()
    if share is None:
        return False
    if share.preview_id == preview.pk:
        return True
    return bool(
        share.comparison_id
        and await Version.objects.filter(
            comparison_id=share.comparison_id, preview_id=preview.pk
        ).aexists()
    )
