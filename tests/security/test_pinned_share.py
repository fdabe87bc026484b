"""Item 5: a share shows what was shared, and says when the sandbox has moved on.

The share pins each version's run, summary and changed files when it is created. Runs made in
the sandbox afterwards (a follow-up turn, another agent) must not replace them on the public
page; the page says the sandbox changed since, since its live preview shows the app as it is.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from comparisons.models import Version
from runs.models import Run

from ..comparisons.test_shares import (
    comparison,  # noqa: F401 - fixture
    make_version,
    open_share,
    share_for,
    share_url,
    version_cards,
)
from ..e2e.conftest import login, shot
from .conftest import make_preview


def later_run(session, summary: str) -> Run:
    return Run.objects.create(
        owner=session.owner,
        session=session,
        config={"name": "Builder", "model": "demo"},
        prompt="Now make it loud",
        status=Run.Status.SUCCEEDED,
        final_output=summary,
    )


@pytest.mark.django_db
def test_a_shared_preview_keeps_the_run_it_was_shared_with(client, comparison):  # noqa: F811
    version = comparison.versions.get(label="Bold")
    share = share_for(version.preview)
    later_run(version.session, "LOUD rewrite, made after sharing.")

    page = open_share(client, share_url(share)).content.decode()

    assert "Bold hero." in page
    assert "LOUD rewrite" not in page
    assert "changed since this link was made" in page
    assert "1 later run" in page


@pytest.mark.django_db
def test_a_shared_comparison_keeps_each_versions_run_summary_and_files(
    client,
    comparison,  # noqa: F811
):
    share = share_for(comparison)
    bold = comparison.versions.get(label="Bold")
    # Afterwards: a follow-up turn in Bold's sandbox, which the version now shows as its run,
    # with other files changed; and a version added to the comparison.
    turn = later_run(bold.session, "LOUD rewrite, made after sharing.")
    Version.objects.filter(pk=bold.pk).update(
        run=turn, files_changed=[{"path": "src/Loud.tsx", "change": "added"}]
    )
    make_version(
        comparison, "Late", preview_status="stopped", summary="Added after sharing.", position=2
    )

    page = open_share(client, share_url(share)).content.decode()

    cards = version_cards(page)
    assert len(cards) == 2, "only the versions that were shared"
    (bold_card,) = [card for card in cards if "<h3>Bold</h3>" in card]
    assert "Bold hero." in bold_card
    assert "src/App.tsx" in bold_card
    assert "LOUD rewrite" not in page and "src/Loud.tsx" not in page
    assert "changed since this link was made" in bold_card
    (calm_card,) = [card for card in cards if "<h3>Calm</h3>" in card]
    assert "changed since" not in calm_card
    assert "Added after sharing." not in page
    assert "1 version was added after this link was made" in page


@pytest.mark.django_db
def test_a_version_still_building_when_shared_shows_that_build_once_done(
    client,
    comparison,  # noqa: F811
):
    calm = comparison.versions.get(label="Calm")
    Run.objects.filter(pk=calm.run_id).update(status=Run.Status.RUNNING, final_output="")
    share = share_for(comparison)
    # The build the link was made during finishes afterwards: that is what was shared.
    Run.objects.filter(pk=calm.run_id).update(
        status=Run.Status.SUCCEEDED, final_output="Calm tones, finished."
    )

    page = open_share(client, share_url(share)).content.decode()

    (calm_card,) = [card for card in version_cards(page) if "<h3>Calm</h3>" in card]
    assert "Calm tones, finished." in calm_card
    assert "changed since" not in calm_card


@pytest.mark.django_db
def test_a_link_made_before_shares_were_pinned_shows_what_existed_when_it_was_made(
    client,
    comparison,  # noqa: F811
):
    version = comparison.versions.get(label="Bold")
    share = share_for(version.preview)
    share.pinned = []  # as the migration leaves links made before this version
    share.save(update_fields=["pinned"])
    later_run(version.session, "LOUD rewrite, made after sharing.")

    page = open_share(client, share_url(share)).content.decode()

    assert "Bold hero." in page
    assert "LOUD rewrite" not in page


ADD_RUN = """
import json
from runs.models import Run
from sandboxes.models import Preview
preview = Preview.objects.select_related("session").get(pk={preview})
run = Run.objects.create(
    owner=preview.session.owner, session=preview.session, prompt={prompt!r},
    config={{"name": "Builder", "model": "demo"}}, status="succeeded", final_output={summary!r},
    requests=2, input_tokens=900, output_tokens=120, total_tokens=1020,
)
print(json.dumps({{"run": run.pk}}))
"""


def test_the_public_page_shows_what_was_shared_and_says_the_sandbox_moved_on(
    dashboard, dev_server, browser, page_errors
):
    preview_id = make_preview(dashboard, dev_server)
    shared = "The landing page now greets bakery visitors with a warm headline."
    dashboard.shell(ADD_RUN.format(preview=preview_id, prompt="A bakery page", summary=shared))
    alice = browser.new_context(base_url=dashboard.url)
    visitor = browser.new_context(base_url=dashboard.url, viewport={"width": 1440, "height": 900})
    phone = browser.new_context(base_url=dashboard.url, viewport={"width": 390, "height": 844})
    try:
        alice.on("page", page_errors.watch)
        page = login(alice, "alice")
        page.goto(f"/previews/{preview_id}/")
        page.get_by_role("button", name="Create share link").click()
        share_url = page.get_by_test_id("share-url").first.input_value()
        # Afterwards alice asks for something else in the same sandbox.
        later = "Rewrote everything in neon for a nightclub."
        dashboard.shell(ADD_RUN.format(preview=preview_id, prompt="Neon", summary=later))

        for context, name in ((visitor, "share-pinned"), (phone, "share-pinned-phone")):
            public = context.new_page()
            page_errors.watch(public)
            public.goto(share_url)
            expect(public.get_by_test_id("version-summary")).to_have_text(shared)
            expect(public.get_by_test_id("moved-on")).to_contain_text(
                "changed since this link was made (1 later run)"
            )
            expect(public.get_by_text(later)).to_have_count(0)
            expect(public.frame_locator("iframe").locator("h1")).to_have_text(
                "the preview's own app", timeout=15_000
            )
            shot(public, name)
    finally:
        for context in (alice, visitor, phone):
            context.close()
