"""Warm a fresh process before it takes work.

A process's first run cost ~0.34 s of CPU more than its next ones (0.37 s against 0.03 s, the
demo model on a local sandbox): pydantic builds the validators of the openai Responses types
(`Response`, its stream events, usage) the first time one is made, ~0.2 s, and Django compiles
the run's state card template on its first render, ~0.1 s. In the single-process default that is
paid once; scaled out, every worker paid it on the runs it took first, while other runs waited
for the same two cores (bench/scale.py: 10 runs cost the workers 1.1-1.3 s of CPU cold and
0.4-0.5 s warm). Scaled out, a worker's first run also imported the Redis channel layer and the
HTTP client of the SDK's trace exporter (~0.3 s more). `manage.py worker` and the ASGI app
warm up before they take work: one turn of the offline demo model through the SDK's Runner, with
no sandbox and nothing stored, each of its events rendered, and the channel layer opened.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pydantic
from agents import Agent, RunConfig, Runner
from channels.layers import get_channel_layer

from .demo import DemoModel
from .event_html import event_fragment
from .models import Run
from .sdk_events import StreamNormaliser

logger = logging.getLogger(__name__)

RESPONSE_TYPES = "openai.types.responses"


def _models(module_prefix: str) -> list[type[pydantic.BaseModel]]:
    """Every pydantic model defined in the modules under `module_prefix` (once imported)."""
    found: list[type[pydantic.BaseModel]] = []
    for name, module in list(sys.modules.items()):
        if module is None or not (name == module_prefix or name.startswith(module_prefix + ".")):
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, pydantic.BaseModel)
                and value.__module__ == name
            ):
                found.append(value)
    return found


def _response_types() -> int:
    """Build the validators of the Responses types that are still deferred; returns how many."""
    import openai.types.responses  # noqa: F401 - its modules are what _models walks

    built = 0
    for model in _models(RESPONSE_TYPES):
        if not model.__pydantic_complete__:
            model.model_rebuild()
            built += 1
    return built


async def _one_turn() -> int:
    """The demo model's answer to a question, as a run streams it (no sandbox, no tools, no
    database, no broadcast): each event normalised and rendered; returns how many."""
    get_channel_layer()  # channels_redis and redis-py, when REDIS_URL is set
    agent = Agent(name="Warm-up", model=DemoModel(delay=0))
    result = Runner.run_streamed(
        agent, "What is a sandbox agent?", run_config=RunConfig(tracing_disabled=True)
    )
    normaliser = StreamNormaliser(tool_servers={})
    seq = 0
    async for event in result.stream_events():
        for kind, payload in normaliser.feed(event):
            seq += 1
            event_fragment(0, seq, kind, payload)
    return seq


def _in_a_thread_loop(coroutine_function) -> int:
    """Runs a coroutine to its end on a loop of its own: warm_up is called from an event loop
    (the worker's) as well as from none (the ASGI module as it loads)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine_function()).result()


def _templates() -> None:
    """Render a run's state card once: compiles its templates (and their filters' regexes)."""
    run = Run(status=Run.Status.SUCCEEDED, final_output="Warm-up: https://example.com")
    event_fragment(0, 1, "state", run.state_payload())


def warm_up() -> float:
    """Do the first-use work now; returns the CPU seconds it took. A failure is logged and
    costs nothing but the warm-up: the first run then pays as it would have."""
    started = time.process_time()
    try:
        built = _response_types()
        _templates()
        _in_a_thread_loop(_one_turn)
    except Exception:
        logger.warning("Warm-up failed; the first run pays for it instead", exc_info=True)
        return time.process_time() - started
    spent = time.process_time() - started
    logger.info("Warmed up in %.2f s of CPU (%d response types built)", spent, built)
    return spent
