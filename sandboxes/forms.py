from django import forms

from .backends import E2BBackend, available_backends
from .models import SandboxSession


def _ports(value: str) -> list[int]:
    ports = []
    for part in value.replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= 65535:
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
            )
        return options
