from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import aget_object_or_404, get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from sandboxes.models import Manifest, SandboxSession
from sandboxes.views import HtmxHttpRequest, _get_session_for_user, _redirect, session_page

from . import lanes, services
from . import presets as preset_library
from .forms import (
    AgentForm,
    CodeReviewForm,
    DeepResearchForm,
    LaneGroupForm,
    McpServerForm,
    RunForm,
)
from .mcp import http_server_spec
from .models import AgentConfig, LaneGroup, Run


def _get_run_for_user(request: HttpRequest, pk: int) -> Run:
    return get_object_or_404(
        Run.objects.select_related("session", "session__manifest", "lane_group"),
        pk=pk,
        owner=request.user,
    )


@require_POST
def run_create(request: HtmxHttpRequest, session_pk: int) -> HttpResponse:
    session = _get_session_for_user(request, session_pk)
    form = RunForm(request.POST)
    if form.is_valid():
        try:
            run = services.run_start(
                owner=request.user,
                session=session,
                config=form.agent_config(),
                prompt=form.cleaned_data["prompt"],
            )
        except services.RunRefused as error:
            form.add_error(None, str(error))
        else:
            return _redirect(request, run.get_absolute_url())
    if request.htmx:
        return render(
            request, "runs/_run_form.html", {"session": session, "run_form": form}, status=400
        )
    return session_page(request, session, run_form=form, status=400)


def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk)
    return render(request, "runs/run_detail.html", {"run": run, "session": run.session})


@require_POST
async def run_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Async so the cancel's event is broadcast from the server's own loop.
    user = await request.auser()
    run = await aget_object_or_404(Run, pk=pk, owner=user)
    if run.is_active:
        await services.run_cancel(run=run)
    if request.htmx:
        return HttpResponse(status=204)
    return redirect(run.get_absolute_url())


# --- agent configs -----------------------------------------------------------------------------

AGENT_FIELDS = (
    "name",
    "model",
    "instructions",
    "developer_instructions",
    "capabilities",
    "tool_choice",
    "max_turns",
)


def _get_agent_for_user(request: HttpRequest, pk: int) -> AgentConfig:
    return get_object_or_404(AgentConfig, pk=pk, owner=request.user)


def agent_list(request: HttpRequest) -> HttpResponse:
    configs = AgentConfig.objects.filter(owner=request.user)
    return render(request, "runs/agent_list.html", {"configs": configs})


def agent_edit(request: HtmxHttpRequest, pk: int | None = None) -> HttpResponse:
    config = _get_agent_for_user(request, pk) if pk else AgentConfig(owner=request.user)
    initial = {name: getattr(config, name) for name in AGENT_FIELDS} if pk else None
    form = AgentForm(request.POST or None, initial=initial)
    mcp_form = McpServerForm()
    if request.method == "POST" and form.is_valid():
        for name in AGENT_FIELDS:
            setattr(config, name, form.cleaned_data[name])
        config.save()
        messages.success(request, f"Saved “{config.name}”.")
        return _redirect(request, reverse("agent_edit", args=[config.pk]))
    context = {"config": config, "form": form, "mcp_form": mcp_form}
    return render(request, "runs/agent_edit.html", context, status=400 if form.errors else 200)


@require_POST
def agent_mcp_add(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    config = _get_agent_for_user(request, pk)
    form = McpServerForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        servers = [s for s in config.mcp_servers if s["name"] != data["name"]]
        servers.append(
            http_server_spec(name=data["name"], url=data["url"], headers=data["headers"])
        )
        config.mcp_servers = servers
        config.save(update_fields=["mcp_servers"])
        messages.success(request, f"MCP server “{data['name']}” attached.")
        return _redirect(request, reverse("agent_edit", args=[config.pk]))
    context = {
        "config": config,
        "form": AgentForm(initial={n: getattr(config, n) for n in AGENT_FIELDS}),
        "mcp_form": form,
    }
    return render(request, "runs/agent_edit.html", context, status=400)


@require_POST
def agent_mcp_remove(request: HtmxHttpRequest, pk: int, name: str) -> HttpResponse:
    config = _get_agent_for_user(request, pk)
    config.mcp_servers = [s for s in config.mcp_servers if s["name"] != name]
    config.save(update_fields=["mcp_servers"])
    return _redirect(request, reverse("agent_edit", args=[config.pk]))


# --- lane groups and presets -------------------------------------------------------------------


def _get_group_for_user(request: HttpRequest, pk: int) -> LaneGroup:
    return get_object_or_404(LaneGroup, pk=pk, owner=request.user)


def lane_group_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    group = _get_group_for_user(request, pk)
    runs = list(group.runs.select_related("session").order_by("is_coordinator", "pk"))
    context = {
        "group": group,
        "lanes": [r for r in runs if not r.is_coordinator],
        "coordinator": next((r for r in runs if r.is_coordinator), None),
    }
    return render(request, "runs/lane_group_detail.html", context)


@require_POST
async def lane_group_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    user = await request.auser()
    group = await aget_object_or_404(LaneGroup, pk=pk, owner=user)
    await lanes.lane_group_cancel(group=group)
    return redirect(group.get_absolute_url())


def lane_group_new(request: HtmxHttpRequest) -> HttpResponse:
    manifests = Manifest.objects.visible_to(request.user)
    sessions = SandboxSession.objects.filter(
        owner=request.user, status=SandboxSession.Status.RUNNING
    )
    form = LaneGroupForm(
        request.POST or None, owner=request.user, manifests=manifests, sessions=sessions
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        specs = [
            lanes.LaneSpec(
                label=data[f"label_{i}"] or f"Lane {i}",
                config=data[f"agent_{i}"].frozen(),
                prompt=data[f"prompt_{i}"],
                manifest=data[f"manifest_{i}"],
                session=data[f"session_{i}"],
            )
            for i in form.lanes
        ]
        try:
            group = lanes.lane_group_create(
                owner=request.user,
                title=data["title"],
                task=data["task"],
                lanes=specs,
                coordinator=data["coordinator"].frozen(),
            )
        except lanes.LaneGroupRefused as error:
            form.add_error(None, str(error))
        else:
            return _redirect(request, group.get_absolute_url())
    has_agents = AgentConfig.objects.filter(owner=request.user).exists()
    return render(
        request,
        "runs/lane_group_new.html",
        {"form": form, "has_agents": has_agents},
        status=400 if form.errors else 200,
    )


def presets(request: HtmxHttpRequest) -> HttpResponse:
    review_form = CodeReviewForm(prefix="review")
    research_form = DeepResearchForm(prefix="research")
    if request.method == "POST" and request.POST.get("preset") == "code-review":
        review_form = CodeReviewForm(request.POST, prefix="review")
        if review_form.is_valid():
            group = preset_library.launch_code_review(
                owner=request.user, model=review_form.cleaned_data["model"]
            )
            return _redirect(request, group.get_absolute_url())
    elif request.method == "POST" and request.POST.get("preset") == "deep-research":
        research_form = DeepResearchForm(request.POST, prefix="research")
        if research_form.is_valid():
            data = research_form.cleaned_data
            run = preset_library.launch_deep_research(
                owner=request.user,
                model=data["model"],
                question=data["question"],
                mcp_url=data["mcp_url"],
                mcp_headers=data["mcp_headers"],
                e2b_settings=research_form.e2b_settings() if settings.E2B_API_KEY_SET else None,
            )
            return _redirect(request, run.get_absolute_url())
    groups = LaneGroup.objects.filter(owner=request.user)[:10]
    context = {"review_form": review_form, "research_form": research_form, "groups": groups}
    status = 400 if review_form.errors or research_form.errors else 200
    return render(request, "runs/presets.html", context, status=status)
