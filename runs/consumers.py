"""Live run events over a websocket.

Protocol: the client connects, then sends {"type": "resume", "after": <last seq it has>}.
The server answers with every stored event after that seq, then live ones, each once and in
order, as {"events": [{"seq": n, "html": "..."}]}. HTML fragments carry hx-swap-oob targets.
Stored events go out in several such messages, each at most RUN_STREAM_BATCH_BYTES (however
long the log, a message stays under daphne's 1 MB limit); a client that drops mid-catch-up
resumes after the last seq it got. Live events that reach the consumer together (a model's
response and the tool call it made, say) go out together, in one message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from .event_log import MESSAGE_TYPE, encoded_event
from .models import Run, RunEvent

logger = logging.getLogger(__name__)

CLOSE_REFUSED = 4403
# "Try again later" (1013's meaning, in the private range: daphne's autobahn lets an application
# close only with 1000 or 3000-4999): the channel layer (Redis) is unreachable. The page
# reconnects (runstream.js retries on every code but 4403) and catches up from the log once it
# is back; a handshake failing with a bare 500 would say nothing.
CLOSE_TRY_AGAIN = 4013
CHANNEL_LAYER_ERRORS = (RedisError, OSError)
CLOSE_WAIT_SECONDS = 10
HANDSHAKE_WAIT_SECONDS = 2
MESSAGE_LIMIT = 4096  # characters: a resume message is about 30
SEQ_LIMIT = 2**31 - 1  # the largest seq a database column holds everywhere
STORED_CHUNK = 500  # stored events read from the database at a time during a catch-up


class BadMessage(ValueError):
    pass


def _no_constant(name: str):
    raise BadMessage(f"{name} is not a number here")


def parse_message(text: str) -> dict:
    """A client message; BadMessage says what is wrong with one that is not {type, after: n}.

    Python's json accepts what no seq can be: Infinity, NaN, 1e400 (a float infinity), huge
    integers, and nesting deep enough to exhaust the parser's recursion.
    """
    usage = 'expected {"type": "resume", "after": n} with n a whole number'
    if len(text) > MESSAGE_LIMIT:
        raise BadMessage(f"message over {MESSAGE_LIMIT} characters: {usage}")
    try:
        message = json.loads(text, parse_constant=_no_constant)
    except BadMessage as error:
        raise BadMessage(f"{error}: {usage}") from None
    except (ValueError, RecursionError):
        raise BadMessage(f"not JSON: {usage}") from None
    if not isinstance(message, dict):
        raise BadMessage(usage)
    after = message.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after > SEQ_LIMIT:
        raise BadMessage(usage)
    return message | {"after": after}


class RunConsumer(AsyncWebsocketConsumer):
    accepted = False
    connect_seen = False

    async def __call__(self, scope, receive, send):
        try:
            await self._serve(scope, receive, send)
        except CHANNEL_LAYER_ERRORS as error:
            logger.warning(
                "Run stream closed with %s: channel layer error %r", CLOSE_TRY_AGAIN, error
            )
            # Answer the handshake only once the server has handed it over: an early accept
            # or close is lost (the channel layer may fail before it comes, or as it comes).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HANDSHAKE_WAIT_SECONDS):
                    while not self.connect_seen:
                        if (await receive())["type"] == "websocket.connect":
                            self.connect_seen = True
            with contextlib.suppress(Exception):  # the client may be gone already
                if not self.accepted:
                    await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})
                # Stay until the server has closed the socket: daphne drops the close of an
                # application that returns before the handshake has completed.
                async with asyncio.timeout(CLOSE_WAIT_SECONDS):
                    while (await receive())["type"] != "websocket.disconnect":
                        pass

    async def _serve(self, scope, receive, send) -> None:
        """AsyncConsumer.__call__, with a dispatch loop that costs less per message.

        Channels' loop (channels.utils.await_many_dispatch) makes a new task for every message
        received and waits on both sources with asyncio.wait each time: with 20 viewers of a
        busy run, that was half of what delivering an event to a viewer cost the server
        (bench/events.py). Here one task per source reads for the whole connection."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        sources = [(receive, None)]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            # What came with a message (lib/channel_layers.py; Redis's layer has no such call).
            ready = getattr(self.channel_layer, "receive_ready", None)
            if ready is not None:
                ready = functools.partial(ready, self.channel_name)
            sources.append((self.channel_receive, ready))
        # One task per source; messages are handled by the task that read them, one at a time.
        # A source that fails ends the consumer once the message being handled is done (as in
        # channels' loop: a handshake under way is answered before the error is raised).
        one_at_a_time = asyncio.Lock()

        async def read(source, ready) -> None:
            while True:
                try:
                    messages = [await source()]
                except Exception:
                    async with one_at_a_time:
                        raise
                while ready is not None and (message := ready()) is not None:
                    messages.append(message)
                async with one_at_a_time:
                    await self._dispatch_all(messages)

        readers = [asyncio.ensure_future(read(*source)) for source in sources]
        try:
            done, _ = await asyncio.wait(readers, return_when=asyncio.FIRST_COMPLETED)
            for reader in done:
                reader.result()  # StopConsumer (the socket closed), or what went wrong
        except StopConsumer:
            pass
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    async def websocket_connect(self, message) -> None:
        self.connect_seen = True
        await super().websocket_connect(message)

    async def accept(self, subprotocol=None, headers=None) -> None:
        await super().accept(subprotocol, headers)
        self.accepted = True

    async def connect(self) -> None:
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        user = self.scope.get("user")
        allowed = (
            user is not None
            and user.is_authenticated
            and await Run.objects.filter(pk=self.run_id, owner=user).aexists()
        )
        self.allowed = allowed
        if not allowed:
            # Accept, then close with our code: a rejected handshake reaches the browser as a
            # bare 1006 and the page would retry forever instead of saying "access refused".
            await self.accept()
            await self.close(code=CLOSE_REFUSED)
            return
        self.group = f"run-{self.run_id}"
        self.last_sent: int | None = None  # None until the client said where it is
        # Join before reading the log: every event is then either read or heard.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if not self.allowed:
            return
        try:
            message = parse_message(text_data or "{}")
        except BadMessage as error:
            # Say why, and keep the connection: the next message may be a good one.
            await self.send(text_data=json.dumps({"error": str(error)}))
            return
        if message.get("type") != "resume":
            return
        self.last_sent = max(message["after"], 0)
        await self._send_stored(upto=None)

    async def _dispatch_all(self, messages: list[dict]) -> None:
        """Messages in the order received; live events that came together go out together."""
        events: list[dict] = []
        for message in messages:
            if message.get("type") == MESSAGE_TYPE:
                events.append(message)
                continue
            if events:
                await self.run_events(events)
                events = []
            await self.dispatch(message)
        if events:
            await self.run_events(events)

    async def dispatch(self, message: dict) -> None:
        # AsyncConsumer.dispatch runs close_old_connections() in the ORM's thread before every
        # message, queueing each live event behind the executor's writes (and, with
        # CONN_MAX_AGE=0, closing its connection). Live events need no database; a gap read in
        # _deliver opens a connection by itself. Measured in bench/events.py.
        if message.get("type") == MESSAGE_TYPE:
            await self.run_events([message])
        else:
            await super().dispatch(message)

    async def run_events(self, messages: list[dict]) -> None:
        if self.last_sent is None:
            # Not resumed yet: nothing to keep. The events are already stored (the log is
            # written before the broadcast), so the resume's read will include them.
            return
        await self._deliver([(message["seq"], message["json"]) for message in messages])

    async def _deliver(self, events: list[tuple[int, str]]) -> None:
        """Live events (seq, encoded) in one message, or several when they would exceed
        RUN_STREAM_BATCH_BYTES; what a gap before one of them misses is read from the log
        first. Seqs already sent are dropped."""
        limit = settings.RUN_STREAM_BATCH_BYTES
        batch: list[str] = []
        size = 0
        last = self.last_sent
        for seq, encoded in events:
            if seq <= last:
                continue
            gap = seq > last + 1
            if batch and (gap or size + len(encoded) > limit):
                await self._send_encoded(batch, last)
                batch, size = [], 0
            if gap:
                await self._send_stored(upto=seq)
            batch.append(encoded)
            size += len(encoded) + 1
            last = seq
        if batch:
            await self._send_encoded(batch, last)

    async def _send_stored(self, *, upto: int | None) -> None:
        events = RunEvent.objects.filter(run_id=self.run_id, seq__gt=self.last_sent)
        if upto is not None:
            events = events.filter(seq__lt=upto)
        limit = settings.RUN_STREAM_BATCH_BYTES
        batch: list[str] = []
        size = 0
        last = self.last_sent
        async for event in events.order_by("seq").aiterator(chunk_size=STORED_CHUNK):
            encoded = encoded_event(event)
            if batch and size + len(encoded) > limit:
                await self._send_encoded(batch, last)
                batch, size = [], 0
            batch.append(encoded)
            size += len(encoded) + 1
            last = event.seq
        if batch:
            await self._send_encoded(batch, last)

    async def _send_encoded(self, events: list[str], last_seq: int) -> None:
        # json.dumps escapes every non-ASCII character, so characters are bytes here.
        self.last_sent = last_seq
        await self.send(text_data='{"events": [' + ",".join(events) + "]}")
