"""Share the relay and the chat between servers in any number of processes through Redis.

Usage::

    server = wslib.start(port=0, redis="redis://127.0.0.1:6379/0")    # in a notebook
    $ wslib serve --port 8081 --redis redis://127.0.0.1:6379/0         # from a terminal

How each part travels (the keys are listed in ``wslib.storage.redis_store``):

- **Relay**: a server fans a message out to its own clients at once and publishes it,
  with its server id, on a pub/sub channel; the other servers fan it out to theirs. One
  task publishes everything a server relays, in order, so each sender's order holds.
- **Chat**: messages, joins and leaves go into one Redis Stream. Every server reads the
  stream in order (``XREAD BLOCK``) and delivers each entry to its own clients once; the
  entry id is the message id, and ``XRANGE`` replays history and resumes. Typing goes
  over pub/sub: it is not kept.
- **Presence**: each server refreshes a heartbeat key; when one expires, the others free
  the names its clients held and log a ``left`` for each.

When Redis goes away, or stops answering (a Redis that hangs, not only one that is gone:
three tries of ``timeout`` seconds for the chat's commands, about six seconds by default;
one for a batch of relayed messages, which a second try could publish twice), the server
is *degraded*: it logs one warning, ``/healthz`` answers
503 ``{"status": "degraded"}``, every chat connection is closed with 1013 (a send that was
in flight gets an ``error`` with code ``unavailable`` and its ``cid`` first) and new chat
connections get HTTP 503. The kit's clients reconnect with backoff and, once the server
has reconnected by itself, resume and send again what was not acknowledged, which Redis
deduplicates: nothing is lost without the client knowing. The relay goes on locally;
relayed messages that cannot be published meanwhile are counted and logged, not queued.

An unexpected exception in one of the backplane's loops is a bug in the kit, not a lost
Redis: it is logged with its traceback, chat connections are closed with 1011, and the
loops start again at once.

The chat's rules are the same as for a server alone: this module only carries them
(``wslib.server.chat`` drives the ``Room`` over a ``RedisStore``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Awaitable, Callable

from ..core.codes import CLOSE_INTERNAL_ERROR, CLOSE_REASONS, CLOSE_TRY_AGAIN_LATER
from ..core.gate import BackplaneStatus
from ..core.room import Close, ConnId, JoinRequest, PostRequest, Room, Send
from ..exceptions import ServerError
from ..storage.local import LocalStore
from .chat import ChatLink, Node

try:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError("the Redis backplane needs redis-py: pip install 'wslib[redis]'") from exc

from ..storage.redis_store import RedisFeed, RedisStore

__all__ = ["DEGRADED_REASON", "RedisBackplane"]

logger = logging.getLogger("wslib.redis")

#: The close reason chat clients get when their server loses Redis.
DEGRADED_REASON = "chat unavailable: the server lost Redis; try again later"

_FAILURES = (RedisError, OSError)
_POLL = 0.25  # seconds a loop waits for Redis before it checks whether it should end
_TRIES = 3  # tries of one command before Redis is taken for lost (quick retries between)
_BATCH = (256, 1 << 20)  # most relayed messages, and bytes, published in one round trip


class RedisBackplane:
    """Link this server to every other server that uses the same Redis database.

    Args:
        url: A Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
        server_id: This server's id in Redis; random by default. Two running servers must
            never share one (a restarted server may reuse its old id).
        prefix: The start of every key and channel: servers share a chat per prefix.
        heartbeat: Seconds between heartbeats; a server is taken for dead after ``ttl``.
        ttl: How long a heartbeat lasts; three heartbeats by default.
        maxlen: About how many stream entries (messages, joins, leaves) Redis keeps.
        retry: The first and the longest delay (seconds) between reconnection attempts;
            each delay is random up to a value that doubles, so servers do not all
            come back at the same instant.
        timeout: Seconds one try of a Redis command may take; after three (or one, to
            publish relayed messages), Redis is taken for lost. At least four times the
            0.25 s the loops block in Redis for.

    Raises:
        ValueError: ``timeout`` is shorter than 1 s.
    """

    def __init__(
        self,
        url: str,
        *,
        server_id: str | None = None,
        prefix: str = "wslib:chat",
        heartbeat: float = 1.0,
        ttl: float | None = None,
        maxlen: int = 1000,
        retry: tuple[float, float] = (0.1, 5.0),
        timeout: float = 2.0,
    ) -> None:
        if timeout < 4 * _POLL:
            raise ValueError(f"timeout must be at least {4 * _POLL:g} s, not {timeout:g}")
        self.url = url
        self.server_id = server_id or secrets.token_hex(4)
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.ttl = ttl if ttl is not None else 3 * heartbeat
        self.retry = retry
        self.dropped = 0  # relayed messages that could not be published
        # Fail fast inside a command and let this class's own loop do the waiting. Without a
        # socket timeout a Redis that hangs (stopped, not gone) would hold every command,
        # and the heartbeat with them, until the kernel gives up on the connection.
        # The chat's commands may be sent again after a timeout: they read, refresh, or are
        # deduplicated by cid. A PUBLISH that timed out may have run, and the relay has no
        # dedupe: the raw client tries again only when the connection itself failed.
        backoff = ExponentialWithJitterBackoff(base=0.01, cap=0.1)
        quick = Retry(backoff, retries=_TRIES - 1)
        once = Retry(backoff, retries=_TRIES - 1, supported_errors=(RedisConnectionError,))
        self._redis: Redis = Redis.from_url(
            url,
            decode_responses=True,
            retry=quick,
            socket_connect_timeout=2.0,
            socket_timeout=timeout,
        )
        self._raw: Redis = Redis.from_url(
            url, retry=once, socket_connect_timeout=2.0, socket_timeout=timeout
        )
        self.store = RedisStore(self._redis, prefix, maxlen=maxlen)
        self._relay_channel = f"{prefix}:relay".encode()
        self._typing_channel = f"{prefix}:typing".encode()
        self._status: BackplaneStatus = "ok"
        self._node: Node | None = None
        self._link: ChatLink | None = None
        self._room = Room(self.server_id)
        self._feed = RedisFeed(self.store)
        self._pubsub: PubSub | None = None
        self._outbox: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue(10_000)
        # Tasks blocked in a redis-py read are not cancelled: on Python 3.11 that could leave
        # them stuck. Every loop instead polls briefly and ends once ``_halt`` is set.
        self._halt = asyncio.Event()
        self._stopping = asyncio.Event()
        self._failure: BaseException | None = None
        self._bug = False  # the round ended on an unexpected exception, not on Redis
        self._task: asyncio.Task[None] | None = None

    @property
    def status(self) -> BackplaneStatus:
        """Return ``"ok"``, or ``"degraded"`` while Redis cannot be reached."""
        return self._status

    @property
    def room(self) -> Room:
        """Return this server's share of the chat (its logic)."""
        return self._room

    # -- the Backplane protocol ----------------------------------------------------------

    async def attach(self, node: Node, store: LocalStore, replay: int) -> Room:
        """Connect to Redis and start relaying; return this server's room.

        ``store`` (the server's own) is not used: Redis keeps the chat.

        Raises:
            ServerError: Redis cannot be reached now.
        """
        self._node = node
        self._link = ChatLink(
            node,
            self._room,
            self.store,
            replay=replay,
            typing=self._publish_typing,
            failures=_FAILURES,
            failed=self._fail,
        )
        self._stopping.clear()
        try:
            await self._connect(first=True)
        except _FAILURES as exc:
            await self._close_clients()
            raise ServerError(f"cannot reach Redis at {self.url}: {exc}") from exc
        self._task = asyncio.get_running_loop().create_task(self._run(), name="wslib redis")
        return self._room

    async def detach(self, node: Node) -> None:
        """Stop every task, free this server's names and heartbeat, close the connections."""
        if self._task is not None:
            self._stopping.set()
            self._halt.set()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._link is not None:
            self._link.release()
        if self._status == "ok":
            with contextlib.suppress(*_FAILURES):
                async with asyncio.timeout(2.0):
                    await self.store.sweep(self.server_id, [], only_if_dead=False)
                    await self._redis.delete(self.store.heartbeat_key(self.server_id))
        await self._close_clients()
        self._node = None

    async def relay(self, node: Node, payload: str | bytes) -> None:
        """Queue a relayed message for the other servers (waits while the queue is full)."""
        if self._status != "ok":
            self.dropped += 1
            return
        kind, data = (b"t", payload.encode()) if isinstance(payload, str) else (b"b", payload)
        await self._outbox.put((self._relay_channel, self.server_id.encode() + b"\0" + kind + data))

    async def receive(self, node: Node, conn: ConnId, data: str | bytes) -> None:
        """Check one chat frame; store what it asks for; errors go back to ``conn`` only."""
        if self._status != "ok":  # refuse at once: nothing is read from the log meanwhile
            for item in self._room.receive(conn, data):
                if isinstance(item, JoinRequest | PostRequest):
                    node.deliver(self._room.unavailable(item))
                elif isinstance(item, Send | Close):
                    node.deliver([item])
            return
        await self._chat.receive(conn, data)

    async def disconnect(self, node: Node, conn: ConnId) -> str | None:
        """Free the name ``conn`` held; return it for the log."""
        if self._status != "ok":
            # Redis frees the name itself: this server's sweep when it reconnects.
            return next((request.name for request in self._room.disconnect(conn)), None)
        return await self._chat.disconnect(conn)

    @property
    def _chat(self) -> ChatLink:
        if self._link is None:
            raise RuntimeError("no server is attached to this backplane")
        return self._link

    def _fail(self, exc: BaseException) -> None:
        """End this round of the loops; the first failure is the one reported."""
        if self._failure is None and not self._halt.is_set():
            self._failure = exc
        self._halt.set()
        if self._link is not None:
            self._link.release()

    async def _publish_typing(self, name: str) -> None:
        await self._outbox.put(
            (self._typing_channel, self.server_id.encode() + b"\0" + name.encode())
        )

    # -- the connection to Redis, and coming back after losing it --------------------------

    async def _connect(self, *, first: bool) -> None:
        """(Re)connect: check the epoch, pick up the stream, subscribe, free stale names."""
        epoch = await self.store.epoch()
        if first:
            self._feed.position = await self.store.last_id()
        elif epoch != self._chat.epoch:  # Redis lost the chat: everything in the stream is new
            logger.warning("Redis at %s lost the chat's data (new epoch)", self.url)
            self._feed.position = "0-0"
        self._chat.epoch = epoch
        await self.store.sweep(self.server_id, self._room.conns, only_if_dead=False)
        await self.store.heartbeat(self.server_id, self.ttl)
        self._pubsub = self._raw.pubsub()
        await self._pubsub.subscribe(self._relay_channel, self._typing_channel)

    async def _run(self) -> None:
        delay = self.retry[0]
        while True:
            self._halt.clear()
            self._failure = None
            self._bug = False
            loops = (self._read, self._listen, self._publish, self._beat)
            await asyncio.gather(*(self._guard(loop) for loop in loops))
            if self._stopping.is_set():
                return
            self._degrade(self._failure)
            while True:  # reconnect with exponential backoff and full jitter
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), random.uniform(0, delay))
                if self._stopping.is_set():
                    return
                delay = min(2 * delay, self.retry[1])
                try:
                    await self._reset_pubsub()
                    await self._connect(first=False)
                except _FAILURES:
                    continue
                break
            delay = self.retry[0]
            self._status = "ok"
            lost, self.dropped = self.dropped, 0
            logger.warning(
                "Redis at %s is back: chat is served again%s",
                self.url,
                f"; {lost} relayed messages reached only local clients meanwhile" if lost else "",
            )

    async def _guard(self, loop: Callable[[], Awaitable[None]]) -> None:
        """Run one loop until ``_halt``; if it fails, halt the others too.

        Losing Redis is expected and ends the round quietly; any other exception is a bug
        in the kit: it is logged with its traceback, and the round ends all the same, so
        the loops start again from a clean state.
        """
        try:
            await loop()
        except _FAILURES as exc:
            self._fail(exc)
        except Exception as exc:
            logger.exception("unexpected error in the Redis backplane's %s loop", loop.__name__)
            self._bug = True
            self._fail(exc)

    def _degrade(self, exc: BaseException | None) -> None:
        self._status = "degraded"
        lost, self.dropped = self.dropped, 0
        why = (
            "an unexpected error (a bug, logged above)"
            if self._bug
            else f"lost Redis at {self.url}"
        )
        logger.warning(
            "degraded: %s (%s); chat connections closed with %d%s",
            why,
            exc,
            CLOSE_INTERNAL_ERROR if self._bug else CLOSE_TRY_AGAIN_LATER,
            f"; {lost} relayed messages were not published" if lost else "",
        )
        while not self._outbox.empty():  # not published: the relay carries no retries
            self._outbox.get_nowait()
        if self._node is not None:
            if self._bug:
                self._node.close_chat(CLOSE_INTERNAL_ERROR, CLOSE_REASONS[CLOSE_INTERNAL_ERROR])
            else:
                self._node.close_chat(CLOSE_TRY_AGAIN_LATER, DEGRADED_REASON)

    # -- the four loops that run while Redis is reachable ---------------------------------

    async def _read(self) -> None:
        """Deliver every stream entry, in order, to this server's clients."""
        await self._chat.pump(self._feed, self._halt, _POLL)

    async def _listen(self) -> None:
        """Fan out what other servers relay, and typing notices, to this server's clients."""
        assert self._pubsub is not None
        while not self._halt.is_set():
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL)
            if message is None:
                continue
            server, _, body = bytes(message["data"]).partition(b"\0")
            if message["channel"] == self._typing_channel:
                self._chat.typing_in(body.decode())
            elif server != self.server_id.encode() and self._node is not None:
                self._node.relay_in(body[1:].decode() if body[:1] == b"t" else body[1:])

    async def _publish(self) -> None:
        """Publish queued messages in order, many per round trip."""
        while not self._halt.is_set():
            try:  # waiting on the queue is safe to time out: no Redis read is involved
                batch = [await asyncio.wait_for(self._outbox.get(), _POLL)]
            except TimeoutError:
                continue
            size = len(batch[0][1])
            while not self._outbox.empty() and len(batch) < _BATCH[0] and size < _BATCH[1]:
                batch.append(self._outbox.get_nowait())
                size += len(batch[-1][1])
            try:
                async with self._raw.pipeline(transaction=False) as pipe:
                    for channel, data in batch:
                        pipe.publish(channel, data)
                    await pipe.execute()
            except _FAILURES:
                self.dropped += sum(channel == self._relay_channel for channel, _ in batch)
                raise

    async def _beat(self) -> None:
        """Refresh this server's heartbeat; free the names of servers whose heartbeat ended."""
        while not self._halt.is_set():
            await self.store.heartbeat(self.server_id, self.ttl)
            for server in await self.store.holders() - {self.server_id}:
                gone = await self.store.sweep(server, [], only_if_dead=True)
                if gone:
                    logger.warning("server %s stopped answering: %d names freed", server, gone)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halt.wait(), self.heartbeat)

    async def _reset_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*_FAILURES):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _close_clients(self) -> None:
        await self._reset_pubsub()
        for client in (self._redis, self._raw):
            with contextlib.suppress(*_FAILURES):
                await client.aclose()
