from datetime import timedelta

from django import forms

from sandboxes.forms import backend_choices

from .shares import EXPIRY_CHOICES

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

    def expires_in(self) -> timedelta:
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

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backend"].choices = backend_choices(user)
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


class RefineForm(forms.Form):
    """A follow-up turn for one version."""

    prompt = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Refine: e.g. “make the header blue”"}
        ),
        max_length=20_000,
        error_messages={"required": "Write what to change in this version."},
    )
