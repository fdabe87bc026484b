"""Manifests, fully: validation that saves all or nothing, zip in and out, clone, delete."""

import io
import json
import os
import zipfile

import pytest
from django.urls import reverse

from sandboxes import manifests
from sandboxes.manifests import FileSpec, ManifestInvalid
from sandboxes.models import Manifest

from ..conftest import start_local_session


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../etc/passwd", "'..' is not allowed"),
        ("src/../../x", "'..' is not allowed"),
        ("/etc/passwd", "absolute paths are not allowed"),
        ("C:/windows/x", "absolute paths are not allowed"),
        ("a\\b.txt", "backslashes"),
        ("src//App.tsx", "empty or '.' path segments"),
        ("./a.txt", "empty or '.' path segments"),
        ("", "empty path"),
    ],
)
def test_bad_paths_are_refused_with_the_reason(path, reason):
    with pytest.raises(ManifestInvalid) as error:
        manifests.validate([FileSpec(path, b"x")])
    assert reason in str(error.value)


def test_size_caps_and_duplicates_are_refused(settings):
    settings.MANIFEST_FILE_LIMIT = 10
    settings.MANIFEST_TOTAL_LIMIT = 25
    with pytest.raises(ManifestInvalid) as error:
        manifests.validate(
            [
                FileSpec("big.txt", b"x" * 11),
                FileSpec("a.txt", b"x" * 9),
                FileSpec("a.txt", b"x" * 9),
            ]
        )
    reasons = " | ".join(error.value.errors)
    assert "big.txt: 11 bytes, over the 10-byte limit per file" in reasons
    assert "a.txt: duplicate path" in reasons
    assert "29 bytes in all, over the 25 limit" in reasons


def test_a_file_cannot_also_be_a_folder():
    with pytest.raises(ManifestInvalid, match=r"src: is both a file and the folder of src/a\.ts"):
        manifests.validate([FileSpec("src", b""), FileSpec("src/a.ts", b"")])


@pytest.mark.django_db
def test_an_invalid_save_changes_nothing(alice):
    manifest = manifests.manifest_save(
        owner=alice, name="mine", files=[FileSpec("keep.txt", b"keep")]
    )
    with pytest.raises(ManifestInvalid):
        manifests.manifest_save(
            owner=alice,
            name="renamed",
            manifest=manifest,
            files=[FileSpec("ok.txt", b"ok"), FileSpec("../bad", b"")],
        )
    manifest.refresh_from_db()
    assert manifest.name == "mine"
    assert [e.path for e in manifest.entries.all()] == ["keep.txt"]


@pytest.mark.django_db
def test_binary_files_are_kept_exactly(alice):
    png = bytes(range(256))
    manifest = manifests.manifest_save(
        owner=alice, name="bin", files=[FileSpec("logo.png", png), FileSpec("a.txt", b"hi")]
    )
    entry = manifest.entries.get(path="logo.png")
    assert entry.is_binary and entry.data == png
    # ...and stay out of the SDK manifest, whose state must serialise.
    assert set(manifest.to_sdk().entries) == {"a.txt"}


@pytest.mark.django_db(transaction=True)
async def test_binary_files_land_in_the_sandbox_and_state_still_serialises(alice):
    from asgiref.sync import sync_to_async

    png = bytes(range(256)) * 4
    manifest = await sync_to_async(manifests.manifest_save)(
        owner=alice, name="bin", files=[FileSpec("img/logo.png", png), FileSpec("a.txt", b"hi")]
    )
    session = await start_local_session(alice, manifest)
    with open(os.path.join(session.workspace_root, "img/logo.png"), "rb") as f:
        assert f.read() == png
    assert session.sdk_state["type"] == "unix_local"


def test_zips_strip_a_single_top_folder_and_round_trip():
    files = manifests.files_from_zip(
        zip_of({"repo-main/README.md": b"# hi", "repo-main/src/a.py": b"x = 1\n"})
    )
    assert [(f.path, f.data) for f in files] == [("README.md", b"# hi"), ("src/a.py", b"x = 1\n")]
    with pytest.raises(ManifestInvalid, match="not a zip archive"):
        manifests.files_from_zip(b"plain text")


def test_an_oversized_zip_is_refused_before_unpacking(settings):
    settings.MANIFEST_TOTAL_LIMIT = 100
    with pytest.raises(ManifestInvalid, match="unpacked, over the 100 limit"):
        manifests.files_from_zip(zip_of({"a.txt": b"x" * 200}))


@pytest.mark.django_db
def test_upload_a_zip_then_export_it(client, alice):
    client.force_login(alice)
    upload = io.BytesIO(zip_of({"README.md": b"# Uploaded", "src/main.py": b"print(1)\n"}))
    upload.name = "project.zip"
    response = client.post(reverse("manifest_new"), {"name": "Uploaded", "archive": upload})
    manifest = Manifest.objects.get(name="Uploaded")
    assert response.status_code == 302 and manifest.owner == alice
    exported = client.get(reverse("manifest_export", args=[manifest.pk]))
    assert exported["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    assert archive.read("src/main.py") == b"print(1)\n"


@pytest.mark.django_db
def test_a_bad_upload_shows_every_reason_and_saves_nothing(client, alice):
    client.force_login(alice)
    upload = io.BytesIO(zip_of({"../evil.sh": b"rm -rf /", "ok.txt": b"ok"}))
    upload.name = "evil.zip"
    response = client.post(reverse("manifest_new"), {"name": "Evil", "archive": upload})
    assert response.status_code == 400
    assert "../evil.sh: &#x27;..&#x27; is not allowed" in response.content.decode()
    assert "Nothing was saved" in response.content.decode()
    assert not Manifest.objects.filter(name="Evil").exists()


@pytest.mark.django_db
def test_edit_add_and_remove_files(client, alice):
    manifest = manifests.manifest_save(owner=alice, name="m", files=[FileSpec("a.txt", b"a")])
    client.force_login(alice)
    url = reverse("manifest_edit", args=[manifest.pk])
    client.post(url, {"action": "file", "path": "src/b.txt", "content": "bee"})
    client.post(url, {"action": "file", "original_path": "a.txt", "path": "a2.txt", "content": "A"})
    response = client.post(url, {"action": "file", "path": "/abs.txt", "content": "no"})
    assert response.status_code == 400
    assert "absolute paths are not allowed" in response.content.decode()
    client.post(url, {"action": "delete_file", "path": "src/b.txt"})
    assert {e.path: e.content for e in manifest.entries.all()} == {"a2.txt": "A"}


@pytest.mark.django_db
def test_clone_a_builtin_starter_then_delete_the_copy(client, alice, starter):
    client.force_login(alice)
    response = client.post(reverse("manifest_clone", args=[starter.pk]))
    copy = Manifest.objects.get(owner=alice)
    assert response.url == reverse("manifest_edit", args=[copy.pk])
    assert copy.name == "Vite + React starter (copy)"
    assert sorted(e.path for e in copy.entries.all()) == sorted(
        e.path for e in starter.entries.all()
    )
    # Built-ins stay read-only.
    assert client.get(reverse("manifest_edit", args=[starter.pk])).status_code == 404
    assert client.post(reverse("manifest_delete", args=[starter.pk])).status_code == 404
    client.post(reverse("manifest_delete", args=[copy.pk]))
    assert not Manifest.objects.filter(pk=copy.pk).exists()
    assert Manifest.objects.filter(pk=starter.pk).exists()


@pytest.mark.django_db
def test_another_user_cannot_touch_my_manifest(client, alice, bob):
    manifest = manifests.manifest_save(owner=alice, name="m", files=[FileSpec("a.txt", b"a")])
    client.force_login(bob)
    for name in ("manifest_edit", "manifest_export", "manifest_detail"):
        assert client.get(reverse(name, args=[manifest.pk])).status_code == 404
    for name in ("manifest_delete", "manifest_clone"):
        assert client.post(reverse(name, args=[manifest.pk])).status_code == 404
    edit = reverse("manifest_edit", args=[manifest.pk])
    assert client.post(edit, {"action": "delete_file", "path": "a.txt"}).status_code == 404
    assert manifest.entries.count() == 1


@pytest.mark.django_db
def test_upload_a_folder_keeps_its_paths(client, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(alice)
    files = [
        SimpleUploadedFile("README.md", b"# Folder"),
        SimpleUploadedFile("App.tsx", b"export {}\n"),
    ]
    paths = ["my-app/README.md", "my-app/src/App.tsx"]
    response = client.post(
        reverse("manifest_new"),
        {"name": "From folder", "folder": files, "folder_paths": json.dumps(paths)},
    )
    manifest = Manifest.objects.get(name="From folder")
    assert response.status_code == 302
    assert {e.path: e.content for e in manifest.entries.all()} == {
        "README.md": "# Folder",
        "src/App.tsx": "export {}\n",
    }


@pytest.mark.django_db
def test_a_folder_upload_without_its_paths_is_refused(client, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(alice)
    response = client.post(
        reverse("manifest_new"),
        {"name": "Lost", "folder": [SimpleUploadedFile("a.txt", b"a")], "folder_paths": "[]"},
    )
    assert response.status_code == 400
    assert "lost its file paths" in response.content.decode()
    assert not Manifest.objects.filter(name="Lost").exists()


def test_a_manifest_declares_its_own_build_command_and_output_folder(client, alice):
    """What a share's snapshot builds (comparisons.snapshots): blank is npm run build, dist/."""
    manifest = manifests.manifest_save(owner=alice, name="m", files=[FileSpec("a.txt", b"a")])
    assert manifest.build_settings == ("npm run build", "dist")
    client.force_login(alice)
    url = reverse("manifest_edit", args=[manifest.pk])
    page = client.get(url).content.decode()
    assert 'placeholder="npm run build"' in page and 'placeholder="dist"' in page

    meta = {"action": "meta", "name": "m", "description": ""}
    client.post(url, meta | {"build_command": "make site", "build_output": "public/"})
    manifest.refresh_from_db()
    assert manifest.build_settings == ("make site", "public")
    # A file edit keeps them; a clone copies them.
    client.post(url, {"action": "file", "path": "b.txt", "content": "b"})
    manifest.refresh_from_db()
    assert (manifest.build_command, manifest.build_output) == ("make site", "public/")
    copy = manifests.manifest_clone(manifest=manifest, owner=alice)
    assert copy.build_settings == ("make site", "public")

    response = client.post(url, meta | {"build_command": "x", "build_output": "../secrets"})
    assert response.status_code == 400
    assert "must be a folder inside the workspace" in response.content.decode()
    manifest.refresh_from_db()
    assert manifest.build_settings == ("make site", "public")
