from django import forms
from django.conf import settings

from .agents_factory import default_model, model_choices
from .models import CAPABILITY_CHOICES, DEMO_MODEL, TOOL_CHOICE_CHOICES


class AgentForm(forms.Form):
    """How the agent is set up: everything of a run but its prompt."""

    name = forms.CharField(max_length=120, initial="Builder")
    model = forms.CharField(max_length=200)
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        initial="You are a careful engineer working in a sandbox. Inspect before you edit.",
    )
    developer_instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    capabilities = forms.MultipleChoiceField(
        choices=CAPABILITY_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=["shell", "filesystem"],
        required=False,
    )
    tool_choice = forms.ChoiceField(choices=TOOL_CHOICE_CHOICES, initial="auto")
    max_turns = forms.IntegerField(min_value=1, max_value=200, initial=20)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].initial = default_model()
        self.model_choices = model_choices()

    def clean_model(self) -> str:
        model = self.cleaned_data["model"].strip()
        if model != DEMO_MODEL and not settings.OPENAI_API_KEY_SET:
            raise forms.ValidationError(
                "Real models need OPENAI_API_KEY on the server. Use the offline demo model."
            )
        return model

    @property
    def settings_have_errors(self) -> bool:
        advanced = ("instructions", "developer_instructions", "capabilities", "tool_choice")
        return any(name in self.errors for name in (*advanced, "max_turns"))

    def agent_config(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "model": data["model"],
            "instructions": data["instructions"],
            "developer_instructions": data["developer_instructions"],
            "capabilities": list(data["capabilities"]),
            "tool_choice": data["tool_choice"],
            "max_turns": data["max_turns"],
            "model_settings": {},
        }


class RunForm(AgentForm):
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What should the agent build?"}),
        error_messages={"required": "Write a prompt for the agent."},
    )
