"""Conversations on the real local backend with scripted models: each turn continues from the
previous turn's history (the SDK's `to_input_list()`), stored sealed and without secrets."""

from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from lib.secrets import REDACTED, seal, unseal
from runs import services
from runs.models import Run, Thread

from ..helpers import answer_step, execute_turn, input_kinds, shell_step, use_model

pytestmark = pytest.mark.django_db(transaction=True)


def text_of(item) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [])


async def test_turn_two_sees_turn_one_messages_and_tool_results(thread):
    use_model("scripted", [shell_step("echo first-turn-output", "call-1"), answer_step("Made it.")])
    first = await execute_turn(thread, "Build the page", model="scripted")
    assert first.status == Run.Status.SUCCEEDED, first.error
    assert first.turn == 1

    model = use_model("scripted", [answer_step("You asked me to build the page.")])
    second = await execute_turn(thread, "What did I ask before?", model="scripted")

    assert second.status == Run.Status.SUCCEEDED, second.error
    seen = model.first_call.input
    assert input_kinds(seen) == [
        "user",
        "function_call",
        "function_call_output",
        "assistant",
        "user",
    ]
    assert text_of(seen[0]) == "Build the page"
    assert "echo first-turn-output" in seen[1]["arguments"]
    assert "first-turn-output" in seen[2]["output"]  # the tool's result, as the model saw it
    assert text_of(seen[3]) == "Made it."
    assert text_of(seen[4]) == "What did I ask before?"
    # The stored history is replaced by the whole conversation after each completed turn.
    await thread.arefresh_from_db()
    assert input_kinds(thread.history_items()) == [*input_kinds(seen), "assistant"]


async def test_secrets_never_enter_the_stored_history(local_session, monkeypatch):
    env_secret = "sk-live-envvalue-123456"
    key = "sk-proj-dashboardkey-987654"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    local_session.options = {"envs": seal({"API_TOKEN": env_secret})}
    await local_session.asave(update_fields=["options"])
    Path(local_session.workspace_root, "leak.txt").write_text(f"{key}\n")
    thread = await Thread.objects.acreate(owner_id=local_session.owner_id, session=local_session)
    use_model(
        "scripted",
        [
            shell_step(f"echo token={env_secret}", "call-1"),  # as `echo $API_TOKEN` would
            shell_step("cat leak.txt", "call-2"),
            answer_step("Printed them."),
        ],
    )
    run = await execute_turn(thread, "Print the token", model="scripted")
    assert run.status == Run.Status.SUCCEEDED, run.error

    await thread.arefresh_from_db()
    assert env_secret not in thread.history and key not in thread.history
    assert "token=" not in thread.history  # sealed at rest: no tool output in clear text
    items = thread.history_items()
    flat = repr(items)
    assert env_secret not in flat and key not in flat
    outputs = [i["output"] for i in items if i.get("type") == "function_call_output"]
    assert f"token={REDACTED}" in outputs[0]
    assert REDACTED in outputs[1]
    # The next turn's model gets the redacted history, not the secrets.
    model = use_model("scripted", [answer_step("ok")])
    await execute_turn(thread, "And again?", model="scripted")
    assert env_secret not in repr(model.first_call.input)


async def test_a_new_conversation_starts_empty_on_the_same_files(thread, local_session):
    use_model("scripted", [shell_step("echo kept > notes.txt", "call-1"), answer_step("Wrote.")])
    await execute_turn(thread, "Write a note", model="scripted")

    alice = await get_user_model().objects.aget(pk=local_session.owner_id)
    fresh = await sync_to_async(services.thread_start)(owner=alice, session=local_session)
    model = use_model("scripted", [shell_step("cat notes.txt", "call-2"), answer_step("Read.")])
    run = await execute_turn(fresh, "What is in notes.txt?", model="scripted")

    assert run.turn == 1
    assert input_kinds(model.first_call.input) == ["user"]  # nothing of the other conversation
    assert "kept" in model.last_call.input[-1]["output"]  # but the same workspace
    await thread.arefresh_from_db()
    assert len(thread.history_items()) == 4  # the first conversation is untouched


async def test_a_failed_turn_leaves_the_history_as_it_was(thread):
    use_model("scripted", [answer_step("First answer.")])
    await execute_turn(thread, "One", model="scripted")
    await thread.arefresh_from_db()
    before = thread.history_items()

    use_model("scripted", [shell_step("echo a", "c-1"), shell_step("echo b", "c-2")])
    failed = await execute_turn(thread, "Two", model="scripted", max_turns=1)
    assert failed.status == Run.Status.FAILED
    await thread.arefresh_from_db()
    assert thread.history_items() == before

    model = use_model("scripted", [answer_step("Three.")])
    await execute_turn(thread, "Three", model="scripted")
    assert [text_of(i) for i in model.first_call.input if i.get("role") == "user"] == [
        "One",
        "Three",
    ]


async def test_history_is_sealed_with_the_servers_key(thread):
    use_model("scripted", [answer_step("Sealed.")])
    await execute_turn(thread, "Hello", model="scripted")
    await thread.arefresh_from_db()
    assert thread.history.startswith("sealed:")
    assert unseal(thread.history)[0]["content"] == "Hello"
