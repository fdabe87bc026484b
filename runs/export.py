"""A run (or a conversation's runs) as a JSON file, and such a file back as a read-only run.

The file holds the run's agent config, prompt, status, answer, usage, cost, timings and every
event of its log, in order. Never a secret: MCP servers keep only their name, kind and public
URL; every string is cleaned of the dashboard's keys and the run's MCP headers and URLs
(lib.secrets.redact_json); sealed state (the paused RunState, a thread's history) is left out.
The export is streamed, event by event, so memory stays flat whatever the log's length.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils.dateparse import parse_datetime

from lib.secrets import is_sealed, process_secret_values, redact_json, unseal

from .models import Run, RunEvent

RUN_FORMAT = "sandbox-dashboard/run@1"
THREAD_FORMAT = "sandbox-dashboard/thread@1"
EXPORT_CHUNK = 1000  # events read per query
IMPORT_LIMIT_BYTES = 50 * 1024 * 1024
IMPORT_EVENT_LIMIT = 200_000
RUN_FIELDS = ("prompt", "status", "final_output", "error", "turn", "lane_label", "trace_id")


class ImportRefused(ValueError):
    pass


def _secrets_of(config: dict) -> set[str]:
    """The values an export must never contain: the dashboard's keys and the run's MCP
    credentials (their headers, URLs and E2B settings), unsealed to be recognised."""
    secrets = set(process_secret_values())
    for server in config.get("mcp_servers") or []:
        for key in ("url", "headers", "settings"):
            value = server.get(key)
            if not value or not is_sealed(value):
                continue
            value = unseal(value)
            if isinstance(value, dict):
                secrets.update(str(v) for v in value.values())
            else:
                secrets.add(str(value))
    return secrets


def public_config(config: dict) -> dict:
    """The agent config as an export shows it: MCP servers by name, kind and public URL."""
    servers = [
        {k: server[k] for k in ("name", "kind", "display_url") if k in server}
        for server in config.get("mcp_servers") or []
    ]
    return {**config, "mcp_servers": servers}


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def run_header(run: Run) -> dict[str, Any]:
    duration = run.duration if run.finished_at else None
    return {
        "id": run.pk,
        **{name: getattr(run, name) for name in RUN_FIELDS},
        "config": public_config(run.config),
        "usage": run.usage(),
        "cost": None if run.cost is None else str(run.cost),
        "timings": {
            "created_at": _iso(run.created_at),
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "duration_seconds": duration.total_seconds() if duration else None,
        },
    }


async def _run_chunks(run: Run, secrets: set[str]) -> AsyncIterator[str]:
    header = redact_json(json.dumps(run_header(run)), secrets)
    yield header[:-1] + ', "events": ['
    # The payload as the database stores it (JSON text): never decoded and encoded again.
    events = (
        RunEvent.objects.filter(run_id=run.pk)
        .order_by("seq")
        .annotate(text=Cast("payload", TextField()))
        # values(), not values_list(): the latter's aiterator() queries from the event loop.
        .values("seq", "kind", "created_at", "text")
    )
    first = True
    async for row in events.aiterator(chunk_size=EXPORT_CHUNK):
        item = (
            f'{{"seq": {row["seq"]}, "kind": {json.dumps(row["kind"])}, '
            f'"at": "{row["created_at"].isoformat()}", "payload": {row["text"]}}}'
        )
        yield ("" if first else ",\n") + redact_json(item, secrets)
        first = False
    yield "]}"


async def run_export(run: Run) -> AsyncIterator[str]:
    secrets = _secrets_of(run.config)
    yield f'{{"format": "{RUN_FORMAT}", "run": '
    async for chunk in _run_chunks(run, secrets):
        yield chunk
    yield "}\n"


async def thread_export(thread, runs: Iterable[Run]) -> AsyncIterator[str]:
    """A conversation: its turns in order, each a whole run."""
    yield json.dumps({"format": THREAD_FORMAT, "thread": {"id": thread.pk}})[:-1] + ', "runs": ['
    for index, run in enumerate(runs):
        yield "," if index else ""
        async for chunk in _run_chunks(run, _secrets_of(run.config)):
            yield chunk
    yield "]}\n"


# --- import -------------------------------------------------------------------------------------


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise ImportRefused(message)


def _parse(data: bytes) -> dict:
    _need(len(data) <= IMPORT_LIMIT_BYTES, f"The file is over {IMPORT_LIMIT_BYTES // 2**20} MB.")
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ImportRefused("The file is not text (UTF-8): is it a run export?") from None
    except (ValueError, RecursionError) as error:
        raise ImportRefused(f"The file is not valid JSON ({error}).") from None
    _need(isinstance(document, dict), "The file is not a run export (no object at its top).")
    _need(
        document.get("format") in (RUN_FORMAT, THREAD_FORMAT),
        f"Unknown format {str(document.get('format'))[:60]!r}: expected {RUN_FORMAT!r} or "
        f"{THREAD_FORMAT!r}.",
    )
    return document


def _clean_run(data: Any, where: str) -> tuple[dict, list[dict]]:
    _need(isinstance(data, dict), f"{where}: not an object.")
    _need(isinstance(data.get("prompt"), str), f"{where}: no prompt.")
    _need(isinstance(data.get("config", {}), dict), f"{where}: its config is not an object.")
    status = data.get("status")
    _need(status in Run.Status.values, f"{where}: unknown status {str(status)[:40]!r}.")
    if status in Run.ACTIVE_STATUSES:
        # A record never runs again here.
        status = Run.Status.INTERRUPTED
    usage = data.get("usage") or {}
    _need(isinstance(usage, dict), f"{where}: its usage is not an object.")
    fields: dict[str, Any] = {"status": status, "config": public_config(data.get("config", {}))}
    for name in ("prompt", "final_output", "error", "lane_label", "trace_id"):
        value = data.get(name) or ""
        _need(isinstance(value, str), f"{where}: {name} is not text.")
        fields[name] = value[: Run._meta.get_field(name).max_length or None]
    for name in Run.USAGE_FIELDS:
        value = usage.get(name, 0)
        _need(
            isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31,
            f"{where}: usage {name} is not a count.",
        )
        fields[name] = value
    try:
        fields["cost"] = None if data.get("cost") is None else Decimal(str(data["cost"]))
    except InvalidOperation:
        raise ImportRefused(f"{where}: its cost is not a number.") from None
    if fields["cost"] is not None:
        _need(0 <= fields["cost"] < 10**8, f"{where}: its cost is out of range.")
    timings = data.get("timings") or {}
    _need(isinstance(timings, dict), f"{where}: its timings are not an object.")
    for name in ("started_at", "finished_at"):
        value = timings.get(name)
        fields[name] = parse_datetime(value) if isinstance(value, str) else None
    events = data.get("events")
    _need(isinstance(events, list), f"{where}: no events list.")
    _need(len(events) <= IMPORT_EVENT_LIMIT, f"{where}: over {IMPORT_EVENT_LIMIT} events.")
    cleaned, last = [], 0
    for index, event in enumerate(events):
        spot = f"{where}, event {index + 1}"
        _need(isinstance(event, dict), f"{spot}: not an object.")
        seq = event.get("seq")
        _need(
            isinstance(seq, int) and not isinstance(seq, bool) and seq > last,
            f"{spot}: seq must be a whole number above the previous one.",
        )
        kind = event.get("kind")
        _need(isinstance(kind, str) and 0 < len(kind) <= 40, f"{spot}: no kind.")
        _need(isinstance(event.get("payload"), dict), f"{spot}: its payload is not an object.")
        at = parse_datetime(event["at"]) if isinstance(event.get("at"), str) else None
        _need(at is not None, f"{spot}: its time (at) is not an ISO 8601 date-time.")
        cleaned.append({"kind": kind, "payload": event["payload"], "created_at": at})
        last = seq
    return fields, cleaned


def runs_import(*, owner, data: bytes) -> list[Run]:
    """Store an exported run (or each run of an exported conversation) as a read-only run of
    `owner`; ImportRefused says what is wrong with a bad file, and nothing is stored."""
    document = _parse(data)
    if document["format"] == RUN_FORMAT:
        items = [document.get("run")]
    else:
        items = document.get("runs")
        _need(isinstance(items, list) and items, "The conversation has no runs.")
    parsed = [_clean_run(item, f"Run {index + 1}") for index, item in enumerate(items)]
    runs = []
    with transaction.atomic():
        for fields, events in parsed:
            run = Run.objects.create(owner=owner, imported=True, **fields)
            RunEvent.objects.bulk_create(
                (RunEvent(run=run, seq=seq, **event) for seq, event in enumerate(events, 1)),
                batch_size=1000,
            )
            runs.append(run)
    return runs
