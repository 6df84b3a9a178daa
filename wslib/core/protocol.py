"""Read client events and build server events for the JSON chat protocol on ``/chat``.

Nothing here touches a socket: ``read`` turns one received frame into a typed client event
or raises a ``ChatError``; the ``*_event`` functions build server events as plain dicts;
``encode`` turns one into the text of a frame. The wire format is described, with examples,
in ``docs/chat-protocol.md``.
"""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..exceptions import BadEventError, BadValueError, ChatError

__all__ = [
    "ACCEPTED",
    "MAX_CID",
    "MAX_NAME",
    "MAX_TEXT",
    "MAX_TOKEN",
    "VERSION",
    "ClientEvent",
    "Join",
    "Message",
    "Post",
    "Typing",
    "ack_event",
    "check_name",
    "decode",
    "encode",
    "error_event",
    "joined_event",
    "left_event",
    "message_event",
    "name_key",
    "new_token",
    "parse",
    "read",
    "refused_cid",
    "typing_event",
    "welcome_event",
]

VERSION = 2  # 2: joined/left carry no online list; welcome has the whole list
#: The versions a ``join`` may name: version 1 clients differ only in reading presence.
ACCEPTED = frozenset({1, 2})
MAX_NAME = 32
MAX_TEXT = 4096
MAX_CID = 64
MAX_TOKEN = 128  # also the limit for ``last_id``

# A lone surrogate can only reach a str through an escape such as "\ud800": json.loads
# pairs a valid high+low escape into one code point, so any D800-DFFF left is unpaired.
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
# Cc: C0/C1 controls and DEL; Zl/Zp: line and paragraph separators.
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
# Characters a name may not hold because nobody can see them, or nobody knows what they
# show: Cf (format: zero-width spaces and joiners, bidi marks, soft hyphen, tags), Co
# (private use), Cn (unassigned), and the rest of Unicode's Default_Ignorable_Code_Point
# set (UAX #44; UAX #31 section 2.3 keeps them out of identifiers): Hangul fillers,
# combining grapheme joiner, variation selectors, Mongolian and Khmer invisibles. U+2800
# (braille blank) is added: it is a symbol that shows as nothing. Two are allowed where
# emoji need them, right after a symbol: the zero-width joiner of 👩‍💻 and the variation
# selector that asks for the emoji form (❤️).
_EMOJI_GLUE = frozenset("\u200d\ufe0f")
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Co", "Cn"})
_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef]"
)
# Letters of other scripts that look like Latin ones, after case folding, mapped to the
# Latin letter: the single-character part of the skeleton that Unicode's confusables data
# defines (UTS #39 section 4), kept to the scripts most used for look-alike names:
# Cyrillic, Greek, Armenian, and a few Latin variants (dotless i, script g, ...).
_LOOKALIKES = str.maketrans(
    {
        **dict.fromkeys("\u0430\u0251\u03b1", "a"),  # Cyrillic, Latin, Greek
        **dict.fromkeys("\u0432\u03b2", "b"),  # Cyrillic, Greek
        **dict.fromkeys("\u0441\u03f2", "c"),  # Cyrillic, Greek
        **dict.fromkeys("\u0501", "d"),  # Cyrillic
        **dict.fromkeys("\u0435\u03b5", "e"),  # Cyrillic, Greek
        **dict.fromkeys("\u0261\u0581", "g"),  # Latin, Armenian
        **dict.fromkeys("\u04bb\u043d\u03b7\u0570", "h"),  # Cyrillic, Greek, Armenian
        **dict.fromkeys("\u0456\u0131\u0269\u03b9\u0457", "i"),  # Cyrillic, Latin, Greek
        **dict.fromkeys("\u0458\u0237\u03f3", "j"),  # Cyrillic, Latin, Greek
        **dict.fromkeys("\u043a\u03ba", "k"),  # Cyrillic, Greek
        **dict.fromkeys("\u04cf", "l"),  # Cyrillic
        **dict.fromkeys("\u043c\u03bc", "m"),  # Cyrillic, Greek
        **dict.fromkeys("\u0578", "n"),  # Armenian
        **dict.fromkeys("\u043e\u03bf\u0585", "o"),  # Cyrillic, Greek, Armenian
        **dict.fromkeys("\u0440\u03c1", "p"),  # Cyrillic, Greek
        **dict.fromkeys("\u051b\u0566", "q"),  # Cyrillic, Armenian
        **dict.fromkeys("\u0455", "s"),  # Cyrillic
        **dict.fromkeys("\u0442\u03c4", "t"),  # Cyrillic, Greek
        **dict.fromkeys("\u03c5\u057d", "u"),  # Greek, Armenian
        **dict.fromkeys("\u03bd", "v"),  # Greek
        **dict.fromkeys("\u051d\u03c9", "w"),  # Cyrillic, Greek
        **dict.fromkeys("\u0445\u03c7", "x"),  # Cyrillic, Greek
        **dict.fromkeys("\u0443\u03b3", "y"),  # Cyrillic, Greek
        **dict.fromkeys("\u03b6", "z"),  # Greek
    }
)


@dataclass(frozen=True, slots=True)
class Join:
    """Ask to join the room as ``name``, perhaps resuming with a token and a last seen id."""

    name: str
    token: str | None = None
    last_id: str | None = None


@dataclass(frozen=True, slots=True)
class Post:
    """Send ``text`` to everyone, or privately to the user named ``to``."""

    cid: str
    text: str
    to: str | None = None


@dataclass(frozen=True, slots=True)
class Typing:
    """Tell the others that this user is typing."""


ClientEvent = Join | Post | Typing


@dataclass(frozen=True, slots=True)
class Message:
    """Hold one chat message as the server stamped it; ``to`` is set for a private one."""

    id: str
    name: str
    text: str
    ts: float
    to: str | None = None


def decode(data: str | bytes) -> dict[str, object]:
    """Turn the payload of one frame into a JSON object, refusing NUL and lone surrogates.

    Args:
        data: A text frame as ``str``; a binary frame as ``bytes`` is always refused.

    Returns:
        The decoded JSON object.

    Raises:
        BadEventError: ``binary``, ``bad_json``, or ``bad_field`` when it is not an object.
        BadValueError: ``bad_text`` when any string in it holds NUL or a lone surrogate.
    """
    if isinstance(data, bytes):
        raise BadEventError("binary", "Binary frames are not part of the chat; send JSON text.")
    _check_clean(data)
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BadEventError("bad_json", "The frame is not valid JSON.") from exc
    stack: list[object] = [value]
    while stack:  # a loop, not recursion: nesting depth is the sender's choice
        item = stack.pop()
        if isinstance(item, str):
            _check_clean(item)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    if not isinstance(value, dict):
        raise BadEventError("bad_field", "An event must be a JSON object.")
    return value


def parse(obj: Mapping[str, object]) -> ClientEvent:
    """Check one decoded event and return it as a typed client event.

    Fields that are not listed for a type are ignored, and ``null`` counts as absent.

    Args:
        obj: A JSON object as returned by ``decode``.

    Returns:
        A ``Join``, ``Post`` or ``Typing``.

    Raises:
        ChatError: ``bad_field``, ``unknown_type``, ``bad_version``, ``bad_name``,
            ``too_long`` or ``bad_text``, with a sentence saying what to fix.
    """
    kind = _required(obj, "type")
    if kind == "join":
        version = obj.get("v")
        if version is not None and (type(version) is not int or version not in ACCEPTED):
            raise BadEventError("bad_version", f"This server speaks protocol version {VERSION}.")
        return Join(
            name=check_name(_required(obj, "name")),
            token=_optional(obj, "token", limit=MAX_TOKEN),
            last_id=_optional(obj, "last_id", limit=MAX_TOKEN),
        )
    if kind == "send":
        cid = _required(obj, "cid", limit=MAX_CID)
        if not cid:
            raise BadEventError("bad_field", "Field 'cid' must not be empty.")
        text = _required(obj, "text")
        if len(text) > MAX_TEXT:
            raise BadValueError("too_long", f"Text may be at most {MAX_TEXT} characters long.")
        if not text.strip():
            raise BadValueError("bad_text", "Text must not be empty.")
        return Post(cid=cid, text=text, to=_optional(obj, "to"))
    if kind == "typing":
        return Typing()
    raise BadEventError("unknown_type", f"Unknown event type {kind!r}.")


def read(data: str | bytes) -> ClientEvent:
    """Decode and parse one received frame.

    Args:
        data: The frame's payload.

    Returns:
        The typed client event.

    Raises:
        ChatError: As ``decode`` and ``parse`` do.
    """
    return parse(decode(data))


def check_name(name: str) -> str:
    """Check that ``name`` can be shown as a chat name.

    Args:
        name: The requested name.

    Returns:
        The same name.

    Raises:
        BadValueError: ``bad_name`` if it is empty, longer than ``MAX_NAME``, has spaces at
            either end, or holds a control character or an invisible one (format,
            default-ignorable, private-use or unassigned: ``alice\u200b`` is refused).
    """
    if not name.strip():
        raise BadValueError("bad_name", "A name must not be empty.")
    if len(name) > MAX_NAME:
        raise BadValueError("bad_name", f"A name may be at most {MAX_NAME} characters long.")
    if name != name.strip():
        raise BadValueError("bad_name", "A name must not start or end with a space.")
    if any(unicodedata.category(char) in _CONTROL_CATEGORIES for char in name):
        raise BadValueError("bad_name", "A name must not contain control characters.")
    for before, char in zip(" " + name, name, strict=False):  # each char and the one before
        if char in _EMOJI_GLUE and (
            unicodedata.category(before) in ("So", "Sk") or before in _EMOJI_GLUE
        ):
            continue
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES or _INVISIBLE.match(char):
            raise BadValueError(
                "bad_name", f"A name must not contain invisible characters (U+{ord(char):04X})."
            )
    return name


def name_key(name: str) -> str:
    """Return the form of ``name`` used to tell names apart, so names that look alike clash.

    "Alice", "alice", the full-width "\uff21\uff2c\uff29\uff23\uff25" and "\u0430lice"
    with a Cyrillic a (U+0430) all have the same key, so only one of them can be online at
    a time.

    Args:
        name: A chat name.

    Returns:
        The name after NFKC normalisation, case folding, and mapping letters of other
        scripts that look like Latin ones to those (a skeleton, as UTS #39 describes),
        with invisible characters removed and runs of spaces made one.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    visible = "".join(
        c
        for c in folded
        if unicodedata.category(c) not in _INVISIBLE_CATEGORIES and not _INVISIBLE.match(c)
    )
    return " ".join(visible.translate(_LOOKALIKES).split())


def welcome_event(
    name: str, token: str, epoch: str, online: Sequence[str], *, replay: int, reset: bool
) -> dict[str, object]:
    """Build the ``welcome`` event; ``replay`` message events follow it."""
    return {
        "type": "welcome",
        "v": VERSION,
        "name": name,
        "token": token,
        "epoch": epoch,
        "online": list(online),
        "replay": replay,
        "reset": reset,
    }


def message_event(message: Message) -> dict[str, object]:
    """Build a ``message`` event; ``to`` appears only on a private message."""
    event: dict[str, object] = {
        "type": "message",
        "id": message.id,
        "name": message.name,
        "text": message.text,
        "ts": message.ts,
    }
    if message.to is not None:
        event["to"] = message.to
    return event


def ack_event(cid: str, message_id: str, *, duplicate: bool) -> dict[str, object]:
    """Build the ``ack`` event that tells a sender which id its message ``cid`` got."""
    return {"type": "ack", "cid": cid, "id": message_id, "duplicate": duplicate}


def joined_event(name: str) -> dict[str, object]:
    """Build the ``joined`` event sent to the others when ``name`` arrives (a delta)."""
    return {"type": "joined", "name": name}


def left_event(name: str) -> dict[str, object]:
    """Build the ``left`` event sent to the others when ``name`` goes (a delta)."""
    return {"type": "left", "name": name}


def typing_event(name: str) -> dict[str, object]:
    """Build the ``typing`` event sent to the others while ``name`` types."""
    return {"type": "typing", "name": name}


def error_event(error: ChatError, *, cid: str | None = None) -> dict[str, object]:
    """Build the ``error`` event for ``error``; ``cid`` names the refused send, if any."""
    event: dict[str, object] = {"type": "error", "code": error.code, "detail": error.detail}
    if cid is not None:
        event["cid"] = cid
    return event


def refused_cid(refused: Mapping[str, object] | str | bytes) -> str | None:
    """Return the ``cid`` of a refused ``send``, so the client knows which message failed.

    A client sends one message at a time and waits for its answer: an error that named no
    send would leave it waiting. So a frame that ``decode`` refused as a whole (``bad_text``:
    a NUL or a lone surrogate in its text) is read once more, as plain JSON, for its cid.

    Args:
        refused: The decoded event that was refused, or the frame itself when ``decode``
            refused it.
    """
    obj = refused if isinstance(refused, Mapping) else _readable(refused)
    cid = obj.get("cid")
    if (
        obj.get("type") == "send"
        and isinstance(cid, str)
        and 0 < len(cid) <= MAX_CID
        and _FORBIDDEN.search(cid) is None  # the error event carries it back
    ):
        return cid
    return None


def _readable(data: str | bytes) -> Mapping[str, object]:
    """Return a frame's JSON object, if it is one, whatever strings it holds; else ``{}``."""
    if isinstance(data, bytes):
        return {}
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def new_token() -> str:
    """Return a fresh resume token: 24 random bytes, URL-safe (32 characters)."""
    return secrets.token_urlsafe(24)


def encode(event: Mapping[str, object]) -> str:
    """Encode one server event as the text of a frame: compact JSON, non-ASCII kept as is.

    Args:
        event: An event built by one of the ``*_event`` functions.

    Returns:
        The JSON text.
    """
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def _check_clean(text: str) -> None:
    match = _FORBIDDEN.search(text)
    if match is not None:
        what = "NUL" if match.group() == "\x00" else "a lone surrogate"
        raise BadValueError("bad_text", f"The event contains {what}, which is not allowed.")


def _required(obj: Mapping[str, object], key: str, *, limit: int | None = None) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise BadEventError("bad_field", f"Field {key!r} is required and must be a string.")
    if limit is not None and len(value) > limit:
        raise BadEventError("bad_field", f"Field {key!r} may be at most {limit} characters long.")
    return value


def _optional(obj: Mapping[str, object], key: str, *, limit: int | None = None) -> str | None:
    if obj.get(key) is None:
        return None
    value = obj[key]
    if not isinstance(value, str):
        raise BadEventError("bad_field", f"Field {key!r} must be a string when present.")
    if limit is not None and len(value) > limit:
        raise BadEventError("bad_field", f"Field {key!r} may be at most {limit} characters long.")
    return value
