"""Scripted runs: build model scripts and execute runs on the real local backend."""

from __future__ import annotations

import asyncio

from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agents.usage import Usage

from runs import agents_factory
from runs.demo.responses import patch_call, stream_events_for
from runs.executor import run_execute
from runs.models import Run, RunEvent, Thread


def shell_step(command: str, call_id: str, tokens: int = 10) -> ModelStep:
    return ModelStep(
        output=[function_call("exec_command", {"cmd": command}, call_id=call_id)],
        usage=Usage(requests=1, input_tokens=tokens, output_tokens=2, total_tokens=tokens + 2),
    )


def patch_step(patch: str, call_id: str) -> ModelStep:
    """A streamed apply_patch (custom tool) step: built by hand, as ScriptedModel requires."""
    output = [patch_call(patch, call_id)]
    usage = Usage(requests=1, input_tokens=20, output_tokens=30, total_tokens=50)
    return ModelStep.stream(
        lambda call: stream_events_for(output, usage, response_id=f"resp-{call_id}"),
        output=output,
        usage=usage,
    )


def answer_step(text: str) -> ModelStep:
    return ModelStep(
        output=[assistant_message(text)],
        usage=Usage(requests=1, input_tokens=30, output_tokens=8, total_tokens=38),
    )


def use_model(name: str, steps) -> ScriptedModel:
    model = ScriptedModel(steps)
    agents_factory.MODEL_OVERRIDES[name] = model
    return model


def config(model: str = "demo", **overrides) -> dict:
    base = {
        "name": "Builder",
        "model": model,
        "instructions": "Work carefully.",
        "developer_instructions": "",
        "capabilities": ["shell", "filesystem"],
        "tool_choice": "auto",
        "max_turns": 20,
        "model_settings": {},
    }
    return base | overrides


async def execute(session, prompt: str = "Do the thing", **config_overrides) -> Run:
    run = await Run.objects.acreate(
        owner_id=session.owner_id, session=session, config=config(**config_overrides), prompt=prompt
    )
    await run_execute(run_id=run.pk)
    await run.arefresh_from_db()
    return run


async def execute_turn(
    thread: Thread, prompt: str, *, approvals: tuple[str, ...] = (), **config_overrides
) -> Run:
    """The next turn of a conversation, executed here (not through the task backend)."""
    turn = await thread.runs.acount() + 1
    run = await Run.objects.acreate(
        owner_id=thread.owner_id,
        session_id=thread.session_id,
        thread=thread,
        turn=turn,
        config=config(approvals=list(approvals), **config_overrides),
        prompt=prompt,
    )
    await run_execute(run_id=run.pk)
    await run.arefresh_from_db()
    return run


def input_kinds(items) -> list[str]:
    """A model input list as item kinds: 'user', 'assistant', 'function_call', …"""
    kinds = []
    for item in items if isinstance(items, list) else [{"role": "user"}]:
        item = item if isinstance(item, dict) else item.model_dump()
        kinds.append(item.get("role") if item.get("type", "message") == "message" else item["type"])
    return kinds


async def events_of(run: Run) -> list[RunEvent]:
    return [e async for e in RunEvent.objects.filter(run=run).order_by("seq")]


async def until_ended(run: Run, seconds: float = 20) -> Run:
    """The run once it left queued/running (e.g. its continuation after approvals ran)."""
    for _ in range(int(seconds / 0.05)):
        await run.arefresh_from_db()
        if run.status not in (Run.Status.QUEUED, Run.Status.RUNNING):
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run.pk} still {run.status} after {seconds} s")


def long_log(run_id: int, *, steps: int, output_lines: int, first_seq: int = 1) -> list[RunEvent]:
    """A stored log of `steps` steps, unsaved: each an assistant message streamed in deltas,
    then a shell command whose output has `output_lines` lines. Every step's text carries
    `step-<tag>-said` and its output `step-<tag>-out-first` / `-out-last`, once each, with
    tag `<first_seq>.<i>`."""
    events: list[RunEvent] = []

    def add(kind: str, **payload) -> None:
        events.append(
            RunEvent(run_id=run_id, seq=first_seq + len(events), kind=kind, payload=payload)
        )

    for i in range(steps):
        item = f"msg-{first_seq}-{i}"
        add("message_start", item=item)
        tag = f"{first_seq}.{i}"
        for word in (f"step-{tag}-said ", "looking ", "at ", "the files"):
            add("text_delta", item=item, delta=word)
        add("message", item=item, text=f"step-{tag}-said looking at the files")
        call = f"call-{first_seq}-{i}"
        add("tool_call", tool="exec_command", command=f"cat file-{i}.txt", call=call)
        body = [f"line {n} of step {i}: {'x' * 60}" for n in range(output_lines)]
        body[0], body[-1] = f"step-{tag}-out-first", f"step-{tag}-out-last"
        add("tool_output", call=call, output="\n".join(body), exit_code=0, wall_time=0.01)
    return events
