from django import forms

from lib.forms import parse_env_lines, parse_ports
from lib.secrets import seal

from .backends import E2BBackend, available_backends
from .models import DEFAULT_BUILD_COMMAND, DEFAULT_BUILD_OUTPUT, Preview, SandboxSession


def backend_choices(user=None) -> list[tuple[str, str]]:
    """The backends offered (to `user`: the local one is for staff unless a setting opens it)."""
    return [(b.id, SandboxSession.Backend(b.id).label) for b in available_backends(user)]


class SessionForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        required=False,
        help_text="Empty gives “<starter> #n”; name versions after their idea, e.g. “polished”.",
    )
    backend = forms.ChoiceField()
    # E2B options (ignored by the local backend).
    sandbox_type = forms.ChoiceField(
        choices=E2BBackend.SANDBOX_TYPES, initial="e2b", required=False
    )
    template = forms.CharField(max_length=200, required=False)
    timeout = forms.IntegerField(
        min_value=30, max_value=86_400, required=False, help_text="Seconds before E2B stops it."
    )
    pause_on_exit = forms.BooleanField(required=False)
    allow_internet_access = forms.BooleanField(required=False, initial=True)
    on_timeout = forms.ChoiceField(
        choices=[("pause", "pause (resumable)"), ("kill", "kill")], initial="pause", required=False
    )
    auto_resume = forms.BooleanField(required=False, initial=True)
    metadata = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "team=web"}),
        required=False,
        help_text="KEY=value per line, attached to the sandbox.",
    )
    envs = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "API_TOKEN=…"}),
        required=False,
        help_text="KEY=value per line. Secret: stored encrypted, never shown again.",
    )
    # Docker options.
    image = forms.CharField(max_length=200, required=False, help_text="Default: node:22-bookworm")
    network = forms.ChoiceField(
        choices=[("default", "default"), ("none", "none (no network)")], required=False
    )
    exposed_ports = forms.CharField(
        required=False,
        initial="4173",
        help_text="Ports the sandbox may serve on (Vite dev server: 4173); comma-separated.",
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backend"].choices = backend_choices(user)
        self.fields["backend"].initial = SandboxSession.Backend.LOCAL

    def clean_exposed_ports(self) -> list[int]:
        return parse_ports(self.cleaned_data.get("exposed_ports") or "")

    def clean(self):
        data = super().clean()
        docker = data.get("backend") == SandboxSession.Backend.DOCKER
        if docker and data.get("network") == "none" and data.get("exposed_ports"):
            self.add_error("exposed_ports", "A Docker sandbox without network cannot expose ports.")
        return data

    def clean_metadata(self) -> dict[str, str]:
        return parse_env_lines(self.cleaned_data.get("metadata") or "")

    def clean_envs(self) -> dict[str, str]:
        return parse_env_lines(self.cleaned_data.get("envs") or "")

    def backend_options(self) -> dict:
        data = self.cleaned_data
        options: dict = {"exposed_ports": data["exposed_ports"]}
        if data["backend"] == SandboxSession.Backend.E2B:
            options.update(
                sandbox_type=data["sandbox_type"] or "e2b",
                template=data["template"] or None,
                timeout=data["timeout"],
                pause_on_exit=data["pause_on_exit"],
                allow_internet_access=data["allow_internet_access"],
                on_timeout=data["on_timeout"] or "pause",
                auto_resume=data["auto_resume"],
                metadata=data["metadata"],
                envs=seal(data["envs"]) if data["envs"] else "",
            )
        elif data["backend"] == SandboxSession.Backend.DOCKER:
            options.update(image=data["image"] or "", network=data["network"] or "default")
        return options


class PreviewForm(forms.Form):
    port = forms.IntegerField(min_value=1, max_value=65535, initial=4173)
    command = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="{port} and {host} are filled in by the dashboard.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["command"].initial = Preview.DEFAULT_COMMAND

    def clean_command(self) -> str:
        command = self.cleaned_data["command"].strip()
        try:
            command.format(host="h", port=1)
        except (KeyError, IndexError, ValueError):
            raise forms.ValidationError(
                "Only {port} and {host} may appear in braces; double other braces: {{ }}."
            ) from None
        return command


class ManifestForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    # How a share link's snapshot builds the app for production (comparisons.snapshots).
    build_command = forms.CharField(
        max_length=500,
        required=False,
        label="Build command",
        widget=forms.TextInput(attrs={"placeholder": DEFAULT_BUILD_COMMAND}),
        help_text="Builds the app for production when it is shared. Blank: "
        f"{DEFAULT_BUILD_COMMAND}.",
    )
    build_output = forms.CharField(
        max_length=200,
        required=False,
        label="Build output folder",
        widget=forms.TextInput(attrs={"placeholder": DEFAULT_BUILD_OUTPUT}),
        help_text=f"The static files it writes, in the workspace. Blank: {DEFAULT_BUILD_OUTPUT}/.",
    )

    def build(self) -> tuple[str, str]:
        return self.cleaned_data["build_command"], self.cleaned_data["build_output"]

    archive = forms.FileField(
        required=False, label="Files from a zip", help_text="Optional; replaces all files."
    )


class ManifestFileForm(forms.Form):
    original_path = forms.CharField(required=False, widget=forms.HiddenInput)
    path = forms.CharField(max_length=300)
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), required=False)
    upload = forms.FileField(required=False, help_text="Or upload the file (binary is fine).")
