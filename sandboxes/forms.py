from django import forms

from .backends import E2BBackend, available_backends
from .models import SandboxSession


def parse_pairs(text: str, separator: str, shape: str) -> dict[str, str]:
    """'KEY=value' (envs, metadata) or 'Name: value' (headers) lines; `shape` names the form
    in the error."""
    pairs = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, item = line.partition(separator)
        if not sep or not key.strip() or " " in key.strip():
            raise forms.ValidationError(f"Line {number} is not {shape}.")
        pairs[key.strip()] = item.strip()
    return pairs


def _pairs(value: str) -> dict[str, str]:
    return parse_pairs(value, "=", "KEY=value")


def _ports(value: str) -> list[int]:
    ports = []
    for part in value.replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdecimal() or not 1 <= int(part) <= 65535:
            raise forms.ValidationError(f"{part!r} is not a port number (1-65535).")
        ports.append(int(part))
    return ports


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backend"].choices = [
            (b.id, SandboxSession.Backend(b.id).label) for b in available_backends()
        ]
        self.fields["backend"].initial = SandboxSession.Backend.LOCAL

    def clean_exposed_ports(self) -> list[int]:
        return _ports(self.cleaned_data.get("exposed_ports") or "")

    def clean(self):
        data = super().clean()
        docker = data.get("backend") == SandboxSession.Backend.DOCKER
        if docker and data.get("network") == "none" and data.get("exposed_ports"):
            self.add_error("exposed_ports", "A Docker sandbox without network cannot expose ports.")
        return data

    def clean_metadata(self) -> dict[str, str]:
        return _pairs(self.cleaned_data.get("metadata") or "")

    def clean_envs(self) -> dict[str, str]:
        return _pairs(self.cleaned_data.get("envs") or "")

    def backend_options(self) -> dict:
        data = self.cleaned_data
        options: dict = {"exposed_ports": data["exposed_ports"]}
        if data["backend"] == SandboxSession.Backend.E2B:
            from runs.secrets import seal

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
        from .models import Preview

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


SHARE_EXPIRY_CHOICES = [
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("custom", "Custom"),
]


class ShareForm(forms.Form):
    expiry = forms.ChoiceField(choices=SHARE_EXPIRY_CHOICES, initial="24h")
    custom_hours = forms.IntegerField(
        min_value=1, max_value=24 * 90, required=False, help_text="Hours, for a custom expiry."
    )

    def expires_in(self):
        from datetime import timedelta

        from .comparisons import EXPIRY_CHOICES

        data = self.cleaned_data
        if data["expiry"] == "custom":
            return timedelta(hours=data["custom_hours"])
        return EXPIRY_CHOICES[data["expiry"]]

    def clean(self):
        data = super().clean()
        if data.get("expiry") == "custom" and not data.get("custom_hours"):
            self.add_error("custom_hours", "Give the number of hours for a custom expiry.")
        return data


class ComparisonForm(forms.Form):
    """The agent for every version, and 2-6 prompts (one per version)."""

    title = forms.CharField(max_length=200, required=False)
    backend = forms.ChoiceField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backend"].choices = [
            (b.id, SandboxSession.Backend(b.id).label) for b in available_backends()
        ]
        for i in range(1, 7):
            self.fields[f"label_{i}"] = forms.CharField(max_length=80, required=False)
            self.fields[f"prompt_{i}"] = forms.CharField(
                widget=forms.Textarea(attrs={"rows": 2}), required=False
            )

    def version_rows(self):
        return [(self[f"label_{i}"], self[f"prompt_{i}"]) for i in range(1, 7)]

    def clean(self):
        data = super().clean()
        prompts = [
            (data.get(f"label_{i}", ""), data.get(f"prompt_{i}", "").strip()) for i in range(1, 7)
        ]
        self.prompts = [(label, prompt) for label, prompt in prompts if prompt]
        if len(self.prompts) < 2:
            raise forms.ValidationError("Write at least two prompts: one per version.")
        return data


class AddVersionForm(forms.Form):
    label = forms.CharField(max_length=80, required=False)
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class ManifestForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    archive = forms.FileField(
        required=False, label="Files from a zip", help_text="Optional; replaces all files."
    )


class ManifestFileForm(forms.Form):
    original_path = forms.CharField(required=False, widget=forms.HiddenInput)
    path = forms.CharField(max_length=300)
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), required=False)
    upload = forms.FileField(required=False, help_text="Or upload the file (binary is fine).")
