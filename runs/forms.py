from django import forms
from django.conf import settings

from lib.forms import parse_header_lines

from .agents_factory import default_model, model_choices
from .models import (
    APPROVAL_CHOICES,
    CAPABILITY_CHOICES,
    DEMO_MODEL,
    TOOL_CHOICE_CHOICES,
    AgentConfig,
    LaneGroup,
)
from .structured import OutputSchemaInvalid, output_schema_parse


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
    approvals = forms.MultipleChoiceField(
        label="Ask before",
        choices=APPROVAL_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The run pauses on each such call until you approve or reject it.",
    )
    tool_choice = forms.ChoiceField(choices=TOOL_CHOICE_CHOICES, initial="auto")
    max_turns = forms.IntegerField(min_value=1, max_value=200, initial=20)
    output_schema = forms.CharField(
        label="Output schema (JSON)",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"}),
        required=False,
        max_length=50_000,
        help_text="Optional: a JSON schema (an object) the final output must match; the "
        "result is validated, stored and shown as a table or cards.",
    )

    def __init__(self, *args, approvals: bool = True, output_schema: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].initial = default_model()
        self.model_choices = model_choices()
        if not output_schema:
            # Declared on saved agents (coordinators, presets), not typed for each run.
            del self.fields["output_schema"]
        if not approvals:
            # Versions build side by side unattended: nobody to ask.
            del self.fields["approvals"]

    def clean_output_schema(self) -> dict | None:
        try:
            return output_schema_parse(self.cleaned_data.get("output_schema") or "")
        except OutputSchemaInvalid as error:
            raise forms.ValidationError(str(error)) from None

    def clean_model(self) -> str:
        model = self.cleaned_data["model"].strip()
        if model != DEMO_MODEL and not settings.OPENAI_API_KEY_SET:
            raise forms.ValidationError(
                "Real models need OPENAI_API_KEY on the server. Use the offline demo model."
            )
        return model

    @property
    def settings_have_errors(self) -> bool:
        advanced = (
            "instructions",
            "developer_instructions",
            "capabilities",
            "tool_choice",
            "output_schema",
        )
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
            "approvals": list(data.get("approvals") or []),
            "output_schema": data.get("output_schema"),
        }


class RunForm(AgentForm):
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What should the agent build?"}),
        error_messages={"required": "Write a prompt for the agent."},
    )


class FollowUpForm(forms.Form):
    """The next turn of a conversation: a request, same agent as the last turn."""

    prompt = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Ask for a change, e.g. “make the header blue”"}
        ),
        error_messages={"required": "Write what the agent should do next."},
        max_length=20_000,
    )
    approvals = forms.MultipleChoiceField(
        label="Ask before",
        choices=APPROVAL_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def config(self, last: dict) -> dict:
        """The last turn's agent, with this turn's "ask before" choice."""
        return {**last, "approvals": list(self.cleaned_data.get("approvals") or [])}


class McpServerForm(forms.Form):
    """A streamable-HTTP MCP server: URL and headers (kept sealed, never shown back)."""

    name = forms.SlugField(max_length=60)
    url = forms.URLField(max_length=500, assume_scheme="https")
    headers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Authorization: Bearer …"}),
        required=False,
        help_text="One 'Name: value' per line. Stored encrypted; never shown again.",
    )

    def clean_headers(self) -> dict[str, str]:
        return parse_header_lines(self.cleaned_data["headers"])


def _mode_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Mode",
        choices=LaneGroup.Mode.choices,
        initial=LaneGroup.Mode.AGENT,
        required=False,
        widget=forms.RadioSelect,
    )


def _clean_mode(form) -> str:
    return form.cleaned_data.get("mode") or LaneGroup.Mode.AGENT


class PresetForm(forms.Form):
    model = forms.CharField(max_length=200)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].initial = default_model()
        self.model_choices = model_choices()

    clean_model = AgentForm.clean_model


class CodeReviewForm(PresetForm):
    mode = _mode_field()
    clean_mode = _clean_mode


class HomepageForm(CodeReviewForm):
    brief = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        initial="A landing page for a green tea shop in Kyoto called Matcha House, listing "
        "sencha, matcha and hojicha.",
        max_length=2000,
        error_messages={"required": "Write the brief the directions build."},
    )
    directions = forms.IntegerField(min_value=2, max_value=6, initial=3)


class DeepResearchForm(PresetForm):
    question = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    angles = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "How tools are defined\nHow runs are traced"}
        ),
        required=False,
        max_length=4000,
        label="Research angles (optional, one a line)",
        help_text="Two or more: one researcher lane per angle, each in its own notes sandbox, "
        "and a research lead that calls them in parallel and merges their findings and sources.",
    )
    builtin_docs = forms.BooleanField(
        required=False,
        initial=True,
        label="Offline docs search (built-in)",
        help_text="The dashboard's own MCP server: search and fetch over the OpenAI Agents "
        "SDK docs and this dashboard's README. No key, no network.",
    )
    mcp_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Search MCP server URL",
        help_text="Any streamable-HTTP MCP server (e.g. a search or browser server).",
    )
    mcp_headers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Authorization: Bearer …"}),
        required=False,
        label="Its headers",
    )
    exa_api_key = forms.CharField(required=False, widget=forms.PasswordInput, label="Exa API key")
    browserbase_api_key = forms.CharField(
        required=False, widget=forms.PasswordInput, label="Browserbase API key"
    )

    def clean_mcp_headers(self) -> dict[str, str]:
        return parse_header_lines(self.cleaned_data["mcp_headers"])

    def clean_angles(self) -> list[str]:
        from .lanes import MAX_LANES
        from .presets import research_angles

        angles = research_angles(self.cleaned_data["angles"])
        if len(angles) > MAX_LANES:
            raise forms.ValidationError(
                f"Give at most {MAX_LANES} angles, one a line (you gave {len(angles)})."
            )
        return angles

    def e2b_settings(self) -> dict[str, dict[str, str]]:
        data = self.cleaned_data
        settings_ = {}
        if data.get("exa_api_key"):
            settings_["exa"] = {"apiKey": data["exa_api_key"]}
        if data.get("browserbase_api_key"):
            settings_["browserbase"] = {"apiKey": data["browserbase_api_key"]}
        return settings_

    def clean(self):
        data = super().clean()
        if not data.get("builtin_docs") and not data.get("mcp_url") and not self.e2b_settings():
            raise forms.ValidationError(
                "Choose a source: the offline docs search, an MCP server URL (or, with E2B, a "
                "key for its MCP gateway)."
            )
        return data


class LaneGroupForm(forms.Form):
    title = forms.CharField(max_length=200, initial="Parallel lanes")
    task = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        initial="Synthesise the lanes' findings into one answer.",
    )
    coordinator = forms.ModelChoiceField(
        queryset=None, help_text="Runs without a sandbox.", empty_label="Choose an agent…"
    )
    mode = _mode_field()
    clean_mode = _clean_mode

    def __init__(self, *args, owner, manifests, sessions, **kwargs):
        super().__init__(*args, **kwargs)
        configs = AgentConfig.objects.filter(owner=owner)
        self.fields["coordinator"].queryset = configs
        for i in range(1, 7):
            self.fields[f"label_{i}"] = forms.CharField(max_length=80, required=False)
            self.fields[f"agent_{i}"] = forms.ModelChoiceField(
                queryset=configs, required=False, empty_label="Choose an agent…"
            )
            self.fields[f"manifest_{i}"] = forms.ModelChoiceField(
                queryset=manifests, required=False, empty_label="New sandbox from…"
            )
            self.fields[f"session_{i}"] = forms.ModelChoiceField(
                queryset=sessions,
                required=False,
                label="or existing sandbox",
                empty_label="(none: a new one)",
            )
            self.fields[f"prompt_{i}"] = forms.CharField(
                widget=forms.Textarea(attrs={"rows": 2}), required=False
            )

    def lane_rows(self):
        return [
            [self[f"{name}_{i}"] for name in ("label", "agent", "manifest", "session", "prompt")]
            for i in range(1, 7)
        ]

    def clean(self):
        data = super().clean()
        self.lanes = []
        for i in range(1, 7):
            prompt = (data.get(f"prompt_{i}") or "").strip()
            agent = data.get(f"agent_{i}")
            if not prompt and not agent:
                continue
            if not prompt or not agent:
                self.add_error(f"prompt_{i}", f"Lane {i} needs both an agent and a prompt.")
                continue
            if not data.get(f"manifest_{i}") and not data.get(f"session_{i}"):
                self.add_error(f"manifest_{i}", f"Lane {i} needs a manifest or a sandbox.")
                continue
            self.lanes.append(i)
        if len(self.lanes) < 2 and not self.errors:
            raise forms.ValidationError("Fill in at least two lanes.")
        return data


RUN_SORTS = {
    "newest": ("-created_at", "-pk"),
    "oldest": ("created_at", "pk"),
    "longest": ("-took", "-pk"),
    "shortest": ("took", "pk"),
    "most_tokens": ("-total_tokens", "-pk"),
    "fewest_tokens": ("total_tokens", "pk"),
    "costliest": ("-cost", "-pk"),
    "cheapest": ("cost", "pk"),
}


class RunFilterForm(forms.Form):
    """The runs page's filters (GET). Choices for model, agent and sandbox come from the user's
    own runs and sessions (runs.selectors.run_filter_choices)."""

    q = forms.CharField(required=False, max_length=200, label="Search prompts and outputs")
    status = forms.ChoiceField(required=False)
    model = forms.ChoiceField(required=False)
    agent = forms.ChoiceField(required=False)
    session = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(
        required=False,
        choices=[(key, key.replace("_", " ")) for key in RUN_SORTS],
    )

    def __init__(self, *args, models=(), agents=(), sessions=(), **kwargs):
        from .models import Run

        super().__init__(*args, **kwargs)
        anything = [("", "any")]
        self.fields["status"].choices = anything + list(Run.Status.choices)
        self.fields["model"].choices = anything + [(m, m) for m in models]
        self.fields["agent"].choices = anything + [(a, a) for a in agents]
        self.fields["session"].choices = anything + [(s.pk, s.name) for s in sessions]

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("“From” is after “to”.")
        return data


class RunImportForm(forms.Form):
    file = forms.FileField(
        label="Run export (.json)",
        help_text="A file downloaded with “Export JSON” from a run or a conversation.",
    )
