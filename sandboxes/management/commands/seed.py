import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from sandboxes.starters import seed_builtin_starters


class Command(BaseCommand):
    help = "Seed the built-in starters and, on first run, an admin user whose login is printed."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Where it is served.")

    def handle(self, *args, username: str, url: str, **options):
        manifests = seed_builtin_starters()
        self.stdout.write(f"Starters ready: {', '.join(m.name for m in manifests)}")
        password_file = settings.DATA_DIR / "admin-password"
        User = get_user_model()
        if not User.objects.filter(username=username).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username, "", password)
            password_file.write_text(password)
            password_file.chmod(0o600)
        if password_file.exists():
            password = password_file.read_text().strip()
            self.stdout.write(
                self.style.SUCCESS(
                    f"\n  Log in at {url.rstrip('/')}/login/ as {username} / {password}\n"
                    f"  (password kept in {password_file})\n"
                )
            )
        else:
            self.stdout.write(f"User {username!r} exists; its password is not stored here.")
