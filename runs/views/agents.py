"""Agent configs: list, create, edit, attach and detach MCP servers."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from lib.htmx import HtmxHttpRequest, htmx_redirect
from lib.once import once_per_form

from .. import selectors, services
from ..forms import AgentForm, McpServerForm
from ..models import AgentConfig


def _get_agent_for_user(request: HttpRequest, pk: int) -> AgentConfig:
    return get_object_or_404(selectors.agent_configs_of(request.user), pk=pk)


def _initial(config: AgentConfig) -> dict:
    initial = {name: getattr(config, name) for name in services.AGENT_FIELDS}
    schema = config.output_schema
    initial["output_schema"] = json.dumps(schema, indent=2) if schema is not None else ""
    return initial


def agent_list(request: HttpRequest) -> HttpResponse:
    configs = selectors.agent_configs_of(request.user)
    return render(request, "runs/agent_list.html", {"configs": configs})


@once_per_form
def agent_edit(request: HtmxHttpRequest, pk: int | None = None) -> HttpResponse:
    config = _get_agent_for_user(request, pk) if pk else AgentConfig(owner=request.user)
    form = AgentForm(
        request.POST or None, initial=_initial(config) if pk else None, output_schema=True
    )
    if request.method == "POST" and form.is_valid():
        services.agent_config_save(config=config, data=form.cleaned_data)
        messages.success(request, f"Saved “{config.name}”.")
        return htmx_redirect(request, reverse("agent_edit", args=[config.pk]))
    context = {"config": config, "form": form, "mcp_form": McpServerForm()} | _builtin(config)
    return render(request, "runs/agent_edit.html", context, status=400 if form.errors else 200)


@require_POST
@once_per_form
def agent_mcp_add(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    config = _get_agent_for_user(request, pk)
    form = McpServerForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        services.agent_mcp_attach(
            config=config, name=data["name"], url=data["url"], headers=data["headers"]
        )
        messages.success(request, f"MCP server “{data['name']}” attached.")
        return htmx_redirect(request, reverse("agent_edit", args=[config.pk]))
    agent_form = AgentForm(initial=_initial(config), output_schema=True)
    context = {"config": config, "form": agent_form, "mcp_form": form}
    return render(request, "runs/agent_edit.html", context | _builtin(config), status=400)


def _builtin(config) -> dict:
    servers = config.mcp_servers if config.pk else []
    return {"has_builtin_docs": any(s.get("kind") == "builtin" for s in servers)}


@require_POST
def agent_mcp_builtin(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Attach the built-in offline docs server (runs.research) as `docs`."""
    config = _get_agent_for_user(request, pk)
    services.agent_mcp_attach_builtin(config=config)
    messages.success(request, "The built-in offline docs server is attached as “docs”.")
    return htmx_redirect(request, reverse("agent_edit", args=[config.pk]))


@require_POST
def agent_mcp_remove(request: HtmxHttpRequest, pk: int, name: str) -> HttpResponse:
    config = _get_agent_for_user(request, pk)
    services.agent_mcp_detach(config=config, name=name)
    return htmx_redirect(request, reverse("agent_edit", args=[config.pk]))
