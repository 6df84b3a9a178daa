"""Keep a shared chat in Redis: one Stream as the log, hashes for names, tokens and dedupe.

Keys, under a prefix (``wslib:chat`` by default):

==================  ======  ==============================================================
key                 type    holds
==================  ======  ==============================================================
``P:log``           stream  every message, join and leave, in order (the entries of
                            ``wslib.core.room``); an entry's id is the message id
                            (``XADD ... MAXLEN ~`` keeps about ``maxlen``)
``P:online``        hash    name key -> ``{"name", "srv", "conn"}``: who is online, where
``P:tokens``        hash    name key -> resume token; ``P:tokens:used`` (a sorted set of
                            name keys by last use) forgets tokens unused for ``token_ttl``
                            and the least recently used past ``tokens``
``P:dedupe``        hash    ``token + "\\n" + cid`` -> message id (dedupe belongs to the
                            sender's identity); ``P:dedupe:order`` (a list) drops the
                            oldest past ``dedupe`` pairs
``P:epoch``         string  made once; a new value means Redis lost the chat
``P:server:ID``     string  a heartbeat: it expires when server ID stops refreshing it
==================  ======  ==============================================================

Each change is one Lua script, so it is atomic: a name is claimed, a ``cid`` is checked
and the entry is appended with nothing in between (https://redis.io/docs/latest/develop/
interact/programmability/eval-intro/). Scripts are safe to run twice, because redis-py
may retry a command whose reply was lost.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from redis.asyncio import Redis

from ..core.protocol import Message, name_key
from ..core.room import JoinRequest, LeaveRequest, Outcome, PostRequest, message_from
from .history import MAX_TOKENS, TOKEN_TTL
from .store import Entry

__all__ = ["RedisFeed", "RedisStore"]

_ONLINE = """
local function online(key)
  local names = {}
  for _, value in ipairs(redis.call('HVALS', key)) do
    names[#names + 1] = cjson.encode(cjson.decode(value).name)
  end
  return '[' .. table.concat(names, ',') .. ']'
end
"""

# KEYS: online, tokens, log, token use times. ARGV: key, name, token, fresh token, srv, conn,
# maxlen, now (ms), token ttl (ms), most tokens kept. A token unused for ttl is forgotten.
_JOIN = (
    _ONLINE
    + """
local holder = redis.call('HGET', KEYS[1], ARGV[1])
local now, ttl = tonumber(ARGV[8]), tonumber(ARGV[9])
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - ttl))) do
  redis.call('HDEL', KEYS[2], old)
  redis.call('ZREM', KEYS[4], old)
end
local saved = redis.call('HGET', KEYS[2], ARGV[1])
local resumed = ARGV[3] ~= '' and saved == ARGV[3]
local ghost_srv, ghost_conn = '', ''
if holder then
  local h = cjson.decode(holder)
  if h.srv == ARGV[5] and h.conn == ARGV[6] then return {'again'} end
  if not resumed or h.name ~= ARGV[2] then return {'taken'} end
  ghost_srv, ghost_conn = h.srv, h.conn
end
if not resumed then redis.call('HSET', KEYS[2], ARGV[1], ARGV[4]) end
redis.call('ZADD', KEYS[4], now, ARGV[1])
local extra = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[10])
if extra > 0 then
  for i, old in ipairs(redis.call('ZPOPMIN', KEYS[4], extra)) do
    if i % 2 == 1 then redis.call('HDEL', KEYS[2], old) end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({name = ARGV[2], srv = ARGV[5], conn = ARGV[6]}))
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'k', 'j', 'name', ARGV[2],
  'srv', ARGV[5], 'conn', ARGV[6], 'resumed', resumed and '1' or '0',
  'ghost_srv', ghost_srv, 'ghost_conn', ghost_conn, 'online', online(KEYS[1]))
return {'ok', id}
"""
)

# KEYS: dedupe, dedupe order, online, log.
# ARGV: dedupe field, name, text, ts, cid, srv, conn, recipient key or '', maxlen, dedupe size.
_POST = """
local earlier = redis.call('HGET', KEYS[1], ARGV[1])
if earlier then return {'dup', earlier} end
local fields = {'k', 'm', 'name', ARGV[2], 'text', ARGV[3], 'ts', ARGV[4], 'cid', ARGV[5],
  'srv', ARGV[6], 'conn', ARGV[7]}
if ARGV[8] ~= '' then
  local holder = redis.call('HGET', KEYS[3], ARGV[8])
  if not holder then return {'nouser'} end
  fields[#fields + 1] = 'to'
  fields[#fields + 1] = cjson.decode(holder).name
end
local id = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], '*', unpack(fields))
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('RPUSH', KEYS[2], ARGV[1])
if redis.call('LLEN', KEYS[2]) > tonumber(ARGV[10]) then
  redis.call('HDEL', KEYS[1], redis.call('LPOP', KEYS[2]))
end
return {'ok', id}
"""

# KEYS: online, log. ARGV: key, srv, conn, maxlen.
_LEAVE = """
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if not holder then return '' end
local h = cjson.decode(holder)
if h.srv ~= ARGV[2] or h.conn ~= ARGV[3] then return '' end
redis.call('HDEL', KEYS[1], ARGV[1])
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'k', 'l', 'name', h.name)
"""

# KEYS: online, log, heartbeat of srv. ARGV: srv, maxlen, '1' to act only if the heartbeat
# has expired, then the conns of srv to keep. Leaves are logged in name order.
_SWEEP = """
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local keep = {}
for i = 4, #ARGV do keep[ARGV[i]] = true end
local gone = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local h = cjson.decode(all[i + 1])
  if h.srv == ARGV[1] and not keep[h.conn] then gone[#gone + 1] = {all[i], h.name} end
end
table.sort(gone, function(a, b) return a[2] < b[2] end)
for _, pair in ipairs(gone) do
  redis.call('HDEL', KEYS[1], pair[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'k', 'l', 'name', pair[2])
end
return #gone
"""

# KEYS: epoch. ARGV: a new epoch, kept only if there is none.
_EPOCH = "redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('GET', KEYS[1])"


class RedisStore:
    """Perform a ``Room``'s requests and keep its log, on one Redis database.

    Args:
        redis: A ``redis.asyncio.Redis`` client made with ``decode_responses=True``.
        prefix: The start of every key, so several chats can share one database.
        maxlen: About how many log entries to keep (history, resume).
        dedupe: How many recent ``(identity, cid)`` pairs to remember.
        tokens: How many resume tokens to keep at most.
        token_ttl: Seconds after which an unused token is forgotten.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str = "wslib:chat",
        *,
        maxlen: int = 1000,
        dedupe: int = 10_000,
        tokens: int = MAX_TOKENS,
        token_ttl: float = TOKEN_TTL,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.maxlen = maxlen
        self.dedupe = dedupe
        self.tokens = tokens
        self.token_ttl = token_ttl
        self.log = f"{prefix}:log"
        self._online = f"{prefix}:online"
        self._join = redis.register_script(_JOIN)
        self._post = redis.register_script(_POST)
        self._leave = redis.register_script(_LEAVE)
        self._sweep = redis.register_script(_SWEEP)
        self._epoch = redis.register_script(_EPOCH)

    def heartbeat_key(self, server: str) -> str:
        """Return the key whose presence says that ``server`` is alive."""
        return f"{self.prefix}:server:{server}"

    async def epoch(self) -> str:
        """Return the chat's epoch, making one if Redis has none (new, or emptied)."""
        return str(await self._epoch(keys=[f"{self.prefix}:epoch"], args=[secrets.token_hex(4)]))

    async def open(self) -> str:
        """Return the chat's epoch (see ``epoch``)."""
        return await self.epoch()

    async def last_id(self) -> str:
        """Return the id of the log's newest entry, or ``0-0`` if it is empty."""
        newest = _entries(await self.redis.xrevrange(self.log, "+", "-", count=1))
        return newest[0][0] if newest else "0-0"

    async def join(self, request: JoinRequest, server: str) -> Outcome:
        """Claim the name; return ``"ok"``, ``"again"`` (already done) or ``"taken"``."""
        reply = await self._join(
            keys=[self._online, f"{self.prefix}:tokens", self.log, f"{self.prefix}:tokens:used"],
            args=[
                request.key,
                request.name,
                request.token or "",
                request.fresh_token,
                server,
                request.conn,
                self.maxlen,
                round(time.time() * 1000),
                round(self.token_ttl * 1000),
                self.tokens,
            ],
        )
        return _outcome(reply[0])

    async def post(self, request: PostRequest, server: str) -> tuple[Outcome, str]:
        """Append a message; return ``("ok", id)``, ``("dup", id)`` or ``("nouser", "")``."""
        reply = await self._post(
            keys=[
                f"{self.prefix}:dedupe",
                f"{self.prefix}:dedupe:order",
                self._online,
                self.log,
            ],
            args=[
                f"{request.identity}\n{request.cid}",
                request.name,
                request.text,
                repr(time.time()),
                request.cid,
                server,
                request.conn,
                "" if request.to is None else name_key(request.to),
                self.maxlen,
                self.dedupe,
            ],
        )
        return _outcome(reply[0]), str(reply[1]) if len(reply) > 1 else ""

    async def leave(self, request: LeaveRequest, server: str) -> str:
        """Free the name if ``request.conn`` on ``server`` still holds it; log the leave.

        Returns:
            The ``left`` entry's id, or ``""`` if ``request.conn`` did not hold the name.
        """
        entry_id = await self._leave(
            keys=[self._online, self.log],
            args=[name_key(request.name), server, request.conn, self.maxlen],
        )
        return str(entry_id or "")

    async def sweep(self, server: str, keep: list[int], *, only_if_dead: bool) -> int:
        """Free every name ``server`` holds except on ``keep``; return how many left."""
        gone = await self._sweep(
            keys=[self._online, self.log, self.heartbeat_key(server)],
            args=[server, self.maxlen, "1" if only_if_dead else "0", *keep],
        )
        return int(gone)

    async def heartbeat(self, server: str, ttl: float) -> None:
        """Say that ``server`` is alive for the next ``ttl`` seconds."""
        await self.redis.set(self.heartbeat_key(server), "1", px=max(1, round(ttl * 1000)))

    async def holders(self) -> set[str]:
        """Return the ids of the servers that hold at least one name."""
        values: Any = await self.redis.hvals(self._online)
        return {str(json.loads(value)["srv"]) for value in values}

    async def read(self, after: str, block: float) -> list[Entry]:
        """Return the entries after id ``after``, waiting up to ``block`` seconds for one."""
        reply: Any = await self.redis.xread({self.log: after}, count=500, block=round(block * 1000))
        return [entry for _, entries in reply or [] for entry in _entries(entries)]

    async def history(
        self, last_id: str | None, upto: str, count: int
    ) -> tuple[list[Message], bool]:
        """Return the public messages a joiner gets, and whether history was reset.

        With ``last_id``: every public message after it up to ``upto``, if nothing after
        it was trimmed. Otherwise (or with no ``last_id``) the newest ``count``, and
        ``reset`` is true if a ``last_id`` was given.
        """
        if last_id is not None and _parse_id(last_id) is not None:
            oldest = _entries(await self.redis.xrange(self.log, "-", "+", count=1))
            if oldest and _le(oldest[0][0], last_id) and _le(last_id, upto):
                entries = _entries(await self.redis.xrange(self.log, f"({last_id}", upto))
                return _public(entries), False
        return await self._recent(upto, count), last_id is not None

    async def _recent(self, upto: str, count: int) -> list[Message]:
        found: list[Message] = []
        cursor = upto
        while len(found) < count:
            page = _entries(await self.redis.xrevrange(self.log, cursor, "-", count=2 * count + 16))
            found.extend(_public(page))
            if len(page) < 2 * count + 16:
                break
            cursor = f"({page[-1][0]}"
        return list(reversed(found[:count]))


class RedisFeed:
    """Read the log from ``position`` on; ``position`` follows every entry read.

    Args:
        store: The store whose log to read.
        position: The id after which to start (``"0-0"``: from the oldest entry kept).
    """

    def __init__(self, store: RedisStore, position: str = "0-0") -> None:
        self.store = store
        self.position = position

    async def read(self, block: float) -> list[Entry]:
        """Return the entries after ``position``, waiting up to ``block`` seconds for one."""
        entries = await self.store.read(self.position, block)
        if entries:
            self.position = entries[-1][0]
        return entries


def _outcome(word: object) -> Outcome:
    outcomes: dict[object, Outcome] = {
        "ok": "ok",
        "again": "again",
        "taken": "taken",
        "dup": "dup",
        "nouser": "nouser",
    }
    return outcomes[str(word)]


def _entries(reply: Any) -> list[Entry]:
    """Return stream entries as redis-py gives them (decoded) with plain types."""
    return [(str(entry_id), dict(fields)) for entry_id, fields in reply or []]


def _public(entries: list[Entry]) -> list[Message]:
    return [
        message_from(entry_id, fields)
        for entry_id, fields in entries
        if fields.get("k") == "m" and "to" not in fields
    ]


def _parse_id(entry_id: str) -> tuple[int, int] | None:
    ms, dash, seq = entry_id.partition("-")
    if not dash or not (ms.isascii() and ms.isdigit() and seq.isascii() and seq.isdigit()):
        return None
    return int(ms), int(seq)


def _le(a: str, b: str) -> bool:
    left, right = _parse_id(a), _parse_id(b)
    return left is not None and right is not None and left <= right
