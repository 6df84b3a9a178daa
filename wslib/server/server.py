"""The kit's WebSocket server: a thin adapter between sockets and the I/O-free logic.

One port serves the article's relay on ``/`` (or an echo, or your own handler), the JSON
chat on ``/chat``, the browser chat page on ``GET /`` and ``GET /healthz`` (see
``wslib.routes``).
``wslib.gate`` decides what an HTTP request gets before a WebSocket opens, and ``Relay``
and ``Room`` decide what to send to whom (the chat through its backplane,
``wslib.server.backplane``); this module only writes it.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import secrets
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, Literal

from websockets.asyncio.server import Server as _WsServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.http11 import Request, Response

from ..core import gate
from ..core.access import TokenSetting, is_loopback, resolve_token, with_token
from ..core.codes import (
    CLOSE_GOING_AWAY,
    CLOSE_POLICY_VIOLATION,
    CLOSE_REASONS,
    CLOSE_TRY_AGAIN_LATER,
)
from ..core.display import describe_address, printable
from ..core.flow import Flow
from ..core.lifetime import AsyncStopOnExit
from ..core.limits import RateLimiter, connection_cap
from ..core.protocol import encode
from ..core.relay import DISCONNECT_LINE, RECEIVED_PREFIX, Relay, log_line, relayed
from ..core.room import Action, ConnId, Room, Send
from ..core.routes import Route, classify
from ..core.settings import Limits
from ..exceptions import PortInUseError
from ..storage.history import History, MemoryHistory
from ..storage.local import LocalStore
from ..storage.sqlite import SqliteHistory
from . import flowtap
from .admission import ACCEPT_RETRY_GRACE, AcceptErrors, Admission
from .assets import pages
from .backplane import Backplane, LocalBackplane
from .fanout import (
    DirectConnection,
    Fanout,
    OnMessage,
    direct_receiver,
    handle_directly,
    receive_directly,
    shed_handshake,
    shed_queues,
)
from .keepalive import Keepalive
from .logbook import LogBook
from .transportlog import ClosedSendWarnings

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Handler", "Mode", "Server"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080

Mode = Literal["relay", "echo"]
Handler = Callable[[ServerConnection], Awaitable[None]]

logger = logging.getLogger("wslib.server")

# Chat connection ids are unique in the process, so servers can share a LocalBackplane.
_conn_ids = itertools.count(1)

# A chat event to more connections than this goes out through Fanout.publish, as a group.
_GROUP_AT = 8


class _Targets:
    """Chat connections that a turn's events go to together (a ``wslib.server.fanout.Group``).

    A new one is made whenever the recipients or this server's chat connections change, so
    its ``version`` never needs to.
    """

    __slots__ = ("members",)

    version = 0

    def __init__(self, members: list[ServerConnection]) -> None:
        self.members = members


class _Inlet:
    """A relay client's way in: its rate limit, and whether it was refused for speed.

    With no rate limit (the default) a server's clients share one inlet, which is never
    refused: an idle client then holds nothing of its own for it.
    """

    __slots__ = ("limiter", "refused", "server")

    def __init__(self, server: Server, limiter: RateLimiter | None) -> None:
        self.server = server
        self.limiter = limiter
        self.refused = False

    @staticmethod
    def of(connection: ServerConnection) -> _Inlet | None:
        """Return the inlet whose ``relay`` ``receive_directly`` was given for ``connection``,
        if any."""
        inlet = getattr(direct_receiver(connection), "__self__", None)
        return inlet if isinstance(inlet, _Inlet) else None

    def relay(self, connection: ServerConnection, message: str | bytes) -> bool:
        """Relay a message that came straight from websockets' parser; decline it if the
        flow is recording (``recv()`` then brings it to ``take``, in order).

        A method, given to ``receive_directly`` bound: calling a bound method costs less
        than calling an object, and this runs for every message."""
        if self.server._flow is not None:
            return False
        self.server._relay_message(self, connection, message)
        return True

    async def take(self, connection: ServerConnection, message: str | bytes) -> None:
        """Relay a message that came through ``recv()``, and pass it to linked servers."""
        server = self.server
        payload = server._relay_message(self, connection, message)
        if payload is not None and server._linked:  # a private backplane links none
            await server.backplane.relay(server, payload)

    def finish(self, connection: ServerConnection) -> None:
        """Take a relay client that is gone out of the relay, and log that it left."""
        server = self.server
        server.log.write(server._relay.leave(connection))
        server._closed(connection)


class Server(AsyncStopOnExit):
    """Serve the relay, the chat, a page and a health check on one port, on this loop.

    Usage::

        async with Server(port=0) as server:
            print(server.url)          # ws://127.0.0.1:54321/
            await server.serve_forever()

    Args:
        host: The address to bind; loopback unless you mean to expose the server.
        port: The port to bind; 0 picks a free one (read it back from ``port``).
        mode: ``"relay"`` (the article's broadcast) or ``"echo"`` on ``/``.
        handler: Your own ``async def handler(connection)`` for ``/``; overrides ``mode``.
        history: Where chat history lives; default in memory. A ``SqliteHistory`` is used
            from a worker thread, never on the event loop.
        history_db: Keep chat history in this SQLite file instead (ignored with ``history``).
        replay: How many chat messages a newcomer is shown.
        log: Where output lines go; default a ``LogBook`` kept in memory only.
        limits: What the server enforces (sizes, rates, slow clients, origins, ...);
            the defaults are listed in ``wslib.settings``.
        token: An access token to require, ``None`` for none, or ``"auto"`` (the
            default): a random one when ``host`` is not loopback. ``url`` includes it.
        certfile: A PEM certificate chain, to serve ``wss://`` (TLS) instead of ``ws://``.
        keyfile: The certificate's private key, if not in ``certfile``.
        backplane: What links this server to others (``wslib.backplane``); by default a
            private ``LocalBackplane``, so the server stands alone.
        redis: A Redis URL such as ``redis://127.0.0.1:6379/0``: share the relay and the
            chat with every server given the same URL (needs redis-py: ``wslib[redis]``).
        flow: A ``wslib.core.flow.Flow`` to record every connection and message in, for a
            flow diagram (``wslib.FlowDiagram``); none by default. See ``Server.flow``.
        allowed_hosts: Names besides ``localhost`` and loopback addresses by which a server
            bound to loopback may be reached (its ``Host``), e.g. ``["my-laptop.local"]``;
            ``["*"]`` for any. Other names get 403, against DNS rebinding
            (``wslib.access.host_allowed``). A server bound beyond loopback accepts any.

    Attributes:
        run_key: A random key, new with each server, that its playground page holds: a link
            to the page runs its script at once only with this key (``playground_url``).

    Raises:
        ValueError: If both ``backplane`` and ``redis`` are given, or ``replay`` is negative.
        ImportError: If ``redis`` is given and redis-py is not installed.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        mode: Mode = "relay",
        handler: Handler | None = None,
        history: History | None = None,
        history_db: str | None = None,
        replay: int = 100,
        log: LogBook | None = None,
        limits: Limits | None = None,
        token: TokenSetting = "auto",
        certfile: str | None = None,
        keyfile: str | None = None,
        backplane: Backplane | None = None,
        redis: str | None = None,
        allowed_hosts: Iterable[str] = (),
        flow: Flow | None = None,
    ) -> None:
        if redis is not None and (history is not None or history_db is not None):
            raise ValueError("with redis=, Redis keeps the chat's history: drop history/history_db")
        if replay < 0:
            raise ValueError("replay must not be negative")
        self.host, self.port, self.mode = host, port, mode
        self.token = resolve_token(host, token)
        self.allowed_hosts = tuple(allowed_hosts) if is_loopback(host) else None
        # A link to the playground runs its script at once only with this key in it
        # (wslib.notebook.playground): no other page can learn it.
        self.run_key = secrets.token_urlsafe(18)
        self._pages = pages(self.run_key)
        self._ssl = _ssl_context(certfile, keyfile)
        self.log = log if log is not None else LogBook()
        self._handler = handler
        self._history_db = history_db
        self._history = history
        self._replay = replay
        self.limits = limits if limits is not None else Limits()
        self._max_connections = connection_cap(self.limits.max_connections)
        self._admission = Admission(self._max_connections)
        self._accept_errors: AcceptErrors | None = None
        self._closed_sends = ClosedSendWarnings()
        self._active = 0
        self._server: _WsServer | None = None
        self._keepalive: Keepalive | None = None
        self._relay: Relay[ServerConnection] = Relay()
        self._room: Room | None = None
        self._store: LocalStore | None = None
        self._chat: dict[ConnId, ServerConnection] = {}
        self._chat_changes = 0  # counts chat connections opened and closed
        self._targets: tuple[tuple[ConnId, ...], int, _Targets] | None = None  # the last group
        self.backplane = _open_backplane(backplane, redis)
        self._linked = backplane is not None or redis is not None  # others may share it
        self._flow = flow
        self._tasks: set[asyncio.Task[None]] = set()
        self._dropping: set[ServerConnection] = set()
        # This server's frames held until the end of a loop turn: its own, on its own loop.
        self._fanout = Fanout(on_slow=self._slow)
        self._shared_inlet = _Inlet(self, None)  # every relay client's, with no rate limit
        self._shared_relay: OnMessage = self._shared_inlet.relay  # bound once, for them all
        # Relay clients' headerless opening requests, one per path (see shed_handshake).
        self._requests: weakref.WeakValueDictionary[tuple[str, str, str], Request] = (
            weakref.WeakValueDictionary()
        )

    # -- lifecycle -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Return whether the server is listening."""
        return self._server is not None

    @property
    def url(self) -> str:
        """Return the relay's URL, e.g. ``ws://127.0.0.1:8080/`` (with ``?token=`` if any)."""
        return with_token(self._base("ws") + "/", self.token)

    @property
    def chat_url(self) -> str:
        """Return the chat's URL, e.g. ``ws://127.0.0.1:8080/chat``."""
        return with_token(self._base("ws") + "/chat", self.token)

    @property
    def http_url(self) -> str:
        """Return the page's URL, e.g. ``http://127.0.0.1:8080/``."""
        return with_token(self._base("http") + "/", self.token)

    def _base(self, scheme: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}{'s' if self._ssl else ''}://{host}:{self.port}"

    @property
    def room(self) -> Room:
        """Return the chat room: this server's share of the chat's logic (made by ``start``)."""
        if self._room is None:
            raise RuntimeError("the server has not started")
        return self._room

    @property
    def flow(self) -> Flow | None:
        """Return the ``Flow`` this server records its traffic in, or ``None`` (the default).

        Set it at any time, on the loop that serves (``None`` stops recording); the
        connections already open become lanes at once.
        """
        return self._flow

    @flow.setter
    def flow(self, flow: Flow | None) -> None:
        self._flow = flow
        if flow is not None and self._server is not None:
            for connection in sorted(self._server.connections, key=flowtap.peer):
                flowtap.opened(flow, self, connection, drawn=False)

    @property
    def clients(self) -> int:
        """Return how many WebSocket connections are open."""
        return self._active

    async def start(self) -> None:
        """Bind the port and start serving; return once the server listens.

        Raises:
            PortInUseError: Another process (or server) already listens on the port.
        """
        if self._server is not None:
            raise RuntimeError("the server is already running")
        if self._history is None:
            # Opening the file touches the disk: off the loop, like every later call.
            self._history = (
                await asyncio.to_thread(SqliteHistory, self._history_db)
                if self._history_db
                else MemoryHistory()
            )
        blocking = isinstance(self._history, SqliteHistory)
        self._store = LocalStore(self._history, blocking=blocking)
        try:
            self._server = await serve(
                self._dispatch,
                self.host,
                self.port,
                process_request=self._process_request,
                create_connection=self._admission.connection_class(DirectConnection),
                compression=None,
                logger=logger,
                max_size=(self.limits.max_size, self.limits.max_fragment),
                ping_interval=None,  # one Keepalive pings them all: no task per connection
                close_timeout=self.limits.close_timeout,
                open_timeout=self.limits.open_timeout,
                ssl=self._ssl,
                backlog=4096,  # asyncio's 100 overflows in a burst of connects; somaxconn caps it
            )
        except OSError as exc:
            await self._close_store()
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(self.port) from None
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        try:
            self._room = await self.backplane.attach(self, self._store, self._replay)
        except BaseException:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            await self._close_store()
            raise
        if self.limits.ping_interval is not None:
            self._keepalive = Keepalive(
                self._server, self.limits.ping_interval, self.limits.ping_timeout, self._spawn
            )
            self._keepalive.start()
        self._accept_errors = AcceptErrors(asyncio.get_running_loop())
        self._accept_errors.install()
        self._closed_sends.install()
        logger.info("serving %s", self.url)
        if not is_loopback(self.host):
            logger.warning(
                "listening on %s: other machines can reach this server%s",
                self.host,
                "; clients need the access token in its URL" if self.token else "",
            )

    async def stop(
        self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutting down"
    ) -> None:
        """Close every client with ``code``, free the port and wait until all is done."""
        server, self._server = self._server, None
        if server is None:
            return
        keepalive, self._keepalive = self._keepalive, None
        if keepalive is not None:
            await keepalive.stop()
        server.close(code=code, reason=reason)
        await server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._accept_errors is not None:
            self._accept_errors.remove(after=ACCEPT_RETRY_GRACE)
        self._closed_sends.remove()  # the closing handshakes are done: say what they cost
        await self.backplane.detach(self)
        await self._close_store()
        logger.info("stopped %s", self.url)

    async def _close_store(self) -> None:
        """Close the store; close the history too if this server opened it (``history_db``)."""
        store, self._store = self._store, None
        if store is not None:
            owned = self._history_db is not None and self._history is not None
            await store.close(history=owned)
            if owned:
                self._history = None

    async def serve_forever(self) -> None:
        """Start if needed, then wait until ``stop`` is called (or the task is cancelled)."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.wait_closed()

    # -- routing ---------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self._admission.requested(connection)
        state = gate.State(
            mode=self.mode,
            token=self.token,
            origins=self.limits.origins,
            active=self._admission.ahead(connection),
            max_connections=self._max_connections,
            backplane=self.backplane.status,
            hosts=self.allowed_hosts,
            pages=self._pages,
            port=self.port,
        )
        answer = gate.answer(request.path, request.headers, state)
        if answer is None:
            if not self._linked and self._relays(request.path):
                # From its first message on, a relay client's whole messages skip
                # websockets' queue and the handler's wake-up (wslib.server.fanout).
                receive_directly(connection, self._receiver())
            return None
        if answer.warning is not None:
            logger.warning("%s", answer.warning)
        response = connection.respond(answer.status, answer.body)
        response.headers.update(answer.headers)
        if answer.content_type is None:  # no content: neither a type nor a length
            del response.headers["Content-Type"], response.headers["Content-Length"]
            return response
        return _with_type(response, answer.content_type)

    def _relays(self, path: str) -> bool:
        """Return whether a WebSocket on ``path`` gets the article's relay."""
        if self._handler is not None or self.mode != "relay":
            return False
        return classify(path, "websocket") is not Route.CHAT

    def _dispatch(self, connection: ServerConnection) -> Awaitable[None]:
        """Return what serves ``connection``; websockets awaits it.

        A plain function, not a coroutine: a relay client, the one a server holds by the
        thousand, is then served by a future alone when its whole messages go straight to
        the relay (``handle_directly``), else by one coroutine, not two (0.27 kB each).
        """
        path = connection.request.path  # type: ignore[union-attr]
        shed_queues(connection)  # 1.6 kB of every idle connection, almost always empty
        inlet = _Inlet.of(connection)  # given in _process_request to relay clients only
        if inlet is None and not self._relays(path):
            return self._serve(connection, classify(path, "websocket"))
        self._opened(connection)
        self._relay.join(connection)
        shed_handshake(connection, self._requests)  # 2 kB of every idle connection
        served = None if inlet is None else handle_directly(connection, inlet)
        if served is not None:
            return served
        return self._serve_relay(connection, inlet or self._inlet())

    async def _serve(self, connection: ServerConnection, route: Route) -> None:
        self._opened(connection)
        try:
            if route is Route.CHAT:
                await self._serve_chat(connection)
            elif self._handler is not None:
                await self._handler(connection)
            else:
                await self._serve_echo(connection)
        except ConnectionClosed:
            pass  # the peer went away mid-send: nothing to clean up beyond the finally blocks
        finally:
            self._closed(connection)

    def _opened(self, connection: ServerConnection) -> None:
        self._active += 1
        if self._flow is not None:
            flowtap.opened(self._flow, self, connection)

    def _closed(self, connection: ServerConnection) -> None:
        self._active -= 1
        if self._flow is not None:
            self._spawn(flowtap.closed(self._flow, self, connection))

    # -- the article's relay, and echo -------------------------------------------------

    async def _serve_relay(self, connection: ServerConnection, inlet: _Inlet) -> None:
        """Relay what ``connection`` sends, through ``recv()`` (a linked server's clients)."""
        try:
            # recv() rather than `async for`: the iterator is one more object (0.5 kB with
            # its awaitable) every idle client would hold.
            while True:
                try:
                    message = await connection.recv()
                except ConnectionClosedOK:
                    return
                await inlet.take(connection, message)
        except ConnectionClosed:
            pass  # the peer went away mid-send: nothing to clean up beyond the finally block
        finally:
            inlet.finish(connection)

    def _receiver(self) -> OnMessage:
        """Return where a new relay client's whole messages go: the shared inlet's ``relay``,
        or that of an inlet of its own, with a rate limit."""
        inlet = self._inlet()
        return self._shared_relay if inlet is self._shared_inlet else inlet.relay

    def _inlet(self) -> _Inlet:
        """Return the way in for a new relay client: the shared one, or its own with a limit."""
        if self.limits.relay_rate is None:
            return self._shared_inlet
        return _Inlet(self, _limiter(self.limits.relay_rate))

    def _relay_message(
        self, inlet: _Inlet, connection: ServerConnection, message: str | bytes
    ) -> str | bytes | None:
        """Relay one message from ``connection``; return the payload sent, if any."""
        if inlet.refused:
            return None  # closing with 1008: what it sent before it saw that is dropped
        if inlet.limiter is not None and not inlet.limiter.allow(time.monotonic()):
            inlet.refused = True
            self._close_for_speed(connection)
            return None
        if self._flow is None:
            # Every member but the sender (Relay.receive's rule), sent as a group: a turn's
            # messages are joined once for all of them.
            payload = relayed(message)
            self.log.write(log_line(message))
            self._fanout.publish(
                self._relay, payload, sender=connection, limit=self.limits.write_limit
            )
            return payload
        # The flow records whom each message reached: one list per message.
        delivery = self._relay.receive(connection, message)
        self.log.write(delivery.log_line)
        slow = self._send(delivery.recipients, delivery.payload)
        sent = flowtap.written(delivery.recipients, slow)
        self._flow.relayed(self, connection, sent, message, hop=self._linked)
        return delivery.payload

    async def _serve_echo(self, connection: ServerConnection) -> None:
        try:
            async for message in connection:
                self.log.write(log_line(message))
                await connection.send(message)
        finally:
            self.log.write(DISCONNECT_LINE)

    # -- the JSON chat -----------------------------------------------------------------

    async def _serve_chat(self, connection: ServerConnection) -> None:
        conn = next(_conn_ids)
        self._chat[conn] = connection
        self._chat_changes += 1
        limiter = _limiter(self.limits.chat_rate)
        try:
            async for data in connection:
                if limiter is not None and not limiter.allow(time.monotonic()):
                    await self._refuse_rate(connection)
                    return
                if self._flow is not None:
                    self._flow.received(self, connection, data, hop=self._linked)
                await self.backplane.receive(self, conn, data)
        finally:
            del self._chat[conn]
            self._chat_changes += 1
            name = await self.backplane.disconnect(self, conn)
            if name is not None:
                self.log.write(f"Chat: {printable(name)} left")

    # -- what the backplane calls back (see wslib.backplane.Node) ----------------------

    def deliver(self, actions: Sequence[Action], *, log: bool = True) -> None:
        """Carry out chat actions for this server's own connections; log them if ``log``."""
        self._perform(actions, log=log)

    def relay_in(self, payload: str | bytes) -> None:
        """Send a message relayed by another server to every relay client here."""
        if self._flow is None:
            limit = self.limits.write_limit
            self._fanout.publish(self._relay, payload, sender=None, limit=limit)
            return
        members = self._relay.members
        slow = self._send(members, payload)
        self._flow.relayed_in(self, flowtap.written(members, slow), payload)

    def close_chat(self, code: int, reason: str) -> None:
        """Close every chat connection of this server with ``code`` and ``reason``."""
        for connection in self._chat.values():
            self._spawn(connection.close(code, reason))

    def _perform(self, actions: Iterable[Action], *, log: bool = True) -> None:
        accepted: set[object] = set()  # ids acked in this batch: new messages, not a replay
        for action in actions:
            if isinstance(action, Send):
                if self._flow is None and len(action.to) > _GROUP_AT:
                    # An event for many (a message, a join): the room hands out the same
                    # tuple until its members change, so a turn's events to everyone are
                    # joined once and each recipient gets one write, as in the relay.
                    group = self._group(action.to)
                    limit = self.limits.write_limit
                    self._fanout.publish(group, encode(action.event), sender=None, limit=limit)
                else:
                    targets = [self._chat[c] for c in action.to if c in self._chat]
                    slow = self._send(targets, encode(action.event))
                    if self._flow is not None:
                        sent = flowtap.written(targets, slow)
                        self._flow.delivered(self, sent, action.event, hop=self._linked)
                kind = action.event.get("type")
                if kind == "ack":
                    accepted.add(action.event.get("id"))
                line = _chat_log_line(action.event) if log else None
                if line is not None and (kind != "message" or action.event["id"] in accepted):
                    self.log.write(line)
            elif (connection := self._chat.get(action.conn)) is not None:
                self._spawn(connection.close(action.code, action.reason))

    # -- writing, and dropping those who cannot keep up ------------------------------------

    def _group(self, to: tuple[ConnId, ...]) -> _Targets:
        """Return the chat connections ``to`` names, as one group while nothing changes."""
        last = self._targets
        if last is not None and last[0] is to and last[1] == self._chat_changes:
            return last[2]
        group = _Targets([self._chat[c] for c in to if c in self._chat])
        self._targets = (to, self._chat_changes, group)
        return group

    def _send(
        self, connections: list[ServerConnection], message: str | bytes
    ) -> list[ServerConnection]:
        """Fan ``message`` out; drop, and return, the connections too slow to take it."""
        return self._fanout.send(connections, message, self.limits.write_limit)

    def _slow(self, connection: ServerConnection) -> None:
        self._spawn(self._drop(connection))

    async def _drop(self, connection: ServerConnection) -> None:
        """Close a client whose backlog passed ``write_limit``; abort it if it cannot take that."""
        if connection in self._dropping:
            return
        self._dropping.add(connection)
        queued = connection.transport.get_write_buffer_size()
        logger.warning(
            "dropped a slow client %s: %d bytes waiting",
            describe_address(connection.remote_address),
            queued,
        )
        try:
            async with asyncio.timeout(self.limits.drop_grace):
                await connection.close(CLOSE_TRY_AGAIN_LATER, CLOSE_REASONS[CLOSE_TRY_AGAIN_LATER])
        except TimeoutError:
            connection.transport.abort()  # it is not reading: the close frame cannot get through
        finally:
            self._dropping.discard(connection)

    def _close_for_speed(self, connection: ServerConnection) -> None:
        """Close ``connection`` with 1008: it sent faster than its rate limit allows."""
        logger.warning(
            "closed %s: over the message rate limit", describe_address(connection.remote_address)
        )
        self._spawn(connection.close(CLOSE_POLICY_VIOLATION, "too many messages; slow down"))

    async def _refuse_rate(self, connection: ServerConnection) -> None:
        self._close_for_speed(connection)
        # Keep reading, and dropping, what the client sent before it saw the close frame:
        # with websockets' queue full, reading pauses and the client's answer to the close
        # frame would sit unread until close_timeout ran out.
        async for _ in connection:
            pass

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _open_backplane(backplane: Backplane | None, redis: str | None) -> Backplane:
    """Return ``backplane``, else a ``RedisBackplane`` for the URL ``redis``, else a local one.

    Raises:
        ValueError: If both are given.
        ImportError: If ``redis`` is given but redis-py is not installed.
    """
    if backplane is not None and redis is not None:
        raise ValueError("give either a backplane or a redis URL, not both")
    if backplane is not None:
        return backplane
    if redis is None:
        return LocalBackplane()
    from .redis_backplane import RedisBackplane  # redis-py is optional: import it only now

    return RedisBackplane(redis)


def _chat_log_line(event: object) -> str | None:
    """Return the server log line for a chat event that everyone sees, if any."""
    if not isinstance(event, dict):
        return None
    kind, name = event.get("type"), printable(str(event.get("name")))
    if kind == "message" and "to" not in event:
        return f"{RECEIVED_PREFIX}{printable(str(event.get('text')))} (chat, from {name})"
    if kind == "welcome":
        return f"Chat: {name} joined"
    return None


def _ssl_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    if certfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


def _limiter(rate: tuple[float, float] | None) -> RateLimiter | None:
    return None if rate is None else RateLimiter(*rate)


def _with_type(response: Response, content_type: str) -> Response:
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response
