"""Tests for wslib.core.protocol, with the close codes and the exception tree it relies on."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wslib.core.codes import CLOSE_REASONS, CLOSE_REPLACED, CLOSE_TAKEN_OVER, FINAL
from wslib.core.protocol import (
    MAX_CID,
    MAX_NAME,
    MAX_TEXT,
    VERSION,
    Join,
    Message,
    Post,
    Typing,
    ack_event,
    check_name,
    decode,
    encode,
    error_event,
    joined_event,
    left_event,
    message_event,
    name_key,
    new_token,
    parse,
    read,
    refused_cid,
    welcome_event,
)
from wslib.exceptions import (
    BadEventError,
    BadValueError,
    ChatError,
    PortInUseError,
    ServerError,
    StateError,
    WslibError,
)


def refused(data: str | bytes) -> ChatError:
    """Return the error that reading ``data`` raises, failing if it raises none."""
    with pytest.raises(ChatError) as info:
        read(data)
    return info.value


def send(**fields: object) -> str:
    """Return a send event with a valid cid and text, overridden by ``fields``."""
    return json.dumps({"type": "send", "cid": "c1", "text": "hi", **fields})


def join(**fields: object) -> str:
    """Return a join event for alice, overridden by ``fields``."""
    return json.dumps({"type": "join", "name": "alice", **fields})


lone_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
clean_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=MAX_TEXT
).filter(str.strip)


def test_read_join_send_typing() -> None:
    """Each client event type reads as its dataclass, with absent and null options as None."""
    assert read(join()) == Join("alice")
    assert read(join(token="t", last_id="e-1", v=VERSION)) == Join("alice", "t", "e-1")
    assert read(join(token=None, last_id=None)) == Join("alice")
    assert read(send()) == Post("c1", "hi")
    assert read(send(to="bob")) == Post("c1", "hi", "bob")
    assert read('{"type": "typing"}') == Typing()


def test_unknown_fields_are_ignored() -> None:
    """Fields a type does not list are ignored, so a newer client can still talk."""
    assert read(send(name="mallory", extra=[1, {"x": 2}])) == Post("c1", "hi")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'{"type": "typing"}', "binary"),
        ("hello", "bad_json"),
        ("", "bad_json"),
        ("[" * 100_000, "bad_json"),
        ("1" * 10_000, "bad_json"),
        ("[]", "bad_field"),
        ('"join"', "bad_field"),
        ("{}", "bad_field"),
        ('{"type": 1}', "bad_field"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "join"}', "bad_field"),
        (join(name=7), "bad_field"),
        (join(token=7), "bad_field"),
        (join(last_id="x" * 129), "bad_field"),
        (join(v=3), "bad_version"),
        (join(v=True), "bad_version"),
        (join(v="1"), "bad_version"),
        (send(cid=None), "bad_field"),
        (send(cid=""), "bad_field"),
        (send(cid="c" * (MAX_CID + 1)), "bad_field"),
        (send(text=None), "bad_field"),
        (send(text=["hi"]), "bad_field"),
        (send(to=3), "bad_field"),
        (send(text="x" * (MAX_TEXT + 1)), "too_long"),
        (send(text=""), "bad_text"),
        (send(text=" \n "), "bad_text"),
        (send(text="a\x00b"), "bad_text"),
        ('{"type": "send", "cid": "c1", "text": "\\ud800"}', "bad_text"),
        ('{"type": "typing", "x": {"\\u0000": 1}}', "bad_text"),
        ('{"type": "typing"}\x00', "bad_text"),
        ('{"type": "typing", "x": "\ud800"}', "bad_text"),
    ],
)
def test_bad_frames_are_refused_with_a_code(data: str | bytes, code: str) -> None:
    """Each kind of bad frame raises a ChatError with its stable code and a detail sentence."""
    error = refused(data)
    assert error.code == code
    assert error.detail.endswith(".")


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * (MAX_NAME + 1), " alice", "alice ", "a\nb", "a\tb", "a\x7fb", "a\u2028b"],
)
def test_bad_names_are_refused(name: str) -> None:
    """Empty, too long, space-padded names and names with control characters are bad_name."""
    assert refused(join(name=name)).code == "bad_name"


@pytest.mark.parametrize("name", ["a", "x" * MAX_NAME, "Zoë", "李雷", "ana maria", "🙂"])
def test_good_names_are_kept_as_written(name: str) -> None:
    """Names up to MAX_NAME characters of any script, with inner spaces, are accepted as is."""
    assert check_name(name) == name
    assert read(join(name=name)) == Join(name)


def test_text_at_the_limit_is_accepted() -> None:
    """A text of exactly MAX_TEXT characters, newlines included, is accepted."""
    text = "ab\n" * (MAX_TEXT // 3) + "x" * (MAX_TEXT % 3)
    assert len(text) == MAX_TEXT
    assert read(send(text=text)) == Post("c1", text)


def test_escaped_surrogate_pair_is_one_character() -> None:
    """A correctly paired surrogate escape decodes to one character and is not refused."""
    assert read('{"type": "send", "cid": "c", "text": "\\ud83d\\ude00"}') == Post("c", "😀")


@given(st.text(), lone_surrogates, st.text())
def test_any_lone_surrogate_is_refused(before: str, surrogate: str, after: str) -> None:
    """A lone surrogate anywhere in a text, raw or as a JSON escape, is refused as bad_text."""
    text = before + surrogate + after
    assert refused(send(text=text)).code == "bad_text"  # json.dumps escapes it as \udxxx
    assert refused(json.dumps({"type": "typing", text: 1}, ensure_ascii=False)).code == "bad_text"


@given(st.text(), st.text())
def test_any_nul_is_refused(before: str, after: str) -> None:
    """NUL anywhere in any string of an event is refused as bad_text, whatever else is there."""
    assert refused(send(cid=before + "\x00" + after)).code == "bad_text"


@given(clean_text)
def test_any_clean_text_round_trips(text: str) -> None:
    """Any non-blank text without NUL or lone surrogates, up to MAX_TEXT, reads back intact."""
    assert read(send(text=text)) == Post("c1", text)
    assert read(
        json.dumps({"type": "send", "cid": "c1", "text": text}, ensure_ascii=False)
    ) == Post("c1", text)


def test_decode_returns_the_object() -> None:
    """decode returns the JSON object itself, for callers that need a field parse refuses."""
    assert decode('{"type": "send", "cid": "c"}') == {"type": "send", "cid": "c"}


def test_parse_takes_a_mapping() -> None:
    """parse checks an already decoded object."""
    assert parse({"type": "join", "name": "bob", "v": 1}) == Join("bob")


def test_error_classes_follow_the_tree() -> None:
    """Shape errors are BadEventError and value errors BadValueError, both ChatError."""
    assert isinstance(refused("nope"), BadEventError)
    assert isinstance(refused(send(text="")), BadValueError)
    assert issubclass(StateError, ChatError)
    assert issubclass(ChatError, WslibError)


def test_name_key_folds_case_and_width() -> None:
    """name_key makes names that look alike equal: case and full-width forms fold together."""
    assert (
        name_key("Alice") == name_key("alice") == name_key("\uff21\uff2c\uff29\uff23\uff25")
    )  # full-width ALICE
    assert name_key("alice") != name_key("alicia")


def test_message_event_has_to_only_when_private() -> None:
    """A public message event has no 'to' key; a private one names the recipient."""
    public = message_event(Message("e-1", "alice", "hi", 1.5))
    assert public == {"type": "message", "id": "e-1", "name": "alice", "text": "hi", "ts": 1.5}
    assert message_event(Message("e-2", "alice", "psst", 2.0, "bob"))["to"] == "bob"


def test_error_event_carries_code_detail_and_cid() -> None:
    """An error event carries the error's code and detail, and the cid only when given."""
    error = ChatError("too_long", "Too long.")
    assert error_event(error) == {"type": "error", "code": "too_long", "detail": "Too long."}
    assert error_event(error, cid="c9")["cid"] == "c9"


def test_welcome_and_ack_events() -> None:
    """The welcome event names the protocol version; the ack event says if it was a repeat."""
    welcome = welcome_event("al", "tok", "ep", ("al", "bo"), replay=2, reset=True)
    assert welcome == {
        "type": "welcome",
        "v": VERSION,
        "name": "al",
        "token": "tok",
        "epoch": "ep",
        "online": ["al", "bo"],
        "replay": 2,
        "reset": True,
    }
    assert ack_event("c", "e-1", duplicate=True) == {
        "type": "ack",
        "cid": "c",
        "id": "e-1",
        "duplicate": True,
    }


def test_encode_is_compact_and_keeps_non_ascii() -> None:
    """encode writes compact JSON with non-ASCII characters as themselves."""
    assert encode({"type": "typing", "name": "Zoë"}) == '{"type":"typing","name":"Zoë"}'


def test_kit_close_codes_are_final_with_short_reasons() -> None:
    """The kit's two close codes are final, and every reason fits a close frame's 123 bytes."""
    assert (CLOSE_REPLACED, CLOSE_TAKEN_OVER) == (4000, 4001)
    assert {CLOSE_REPLACED, CLOSE_TAKEN_OVER} == FINAL
    assert all(len(reason.encode()) <= 123 for reason in CLOSE_REASONS.values())


def test_port_in_use_error_names_the_port() -> None:
    """PortInUseError is a ServerError that keeps the port it was about."""
    error = PortInUseError(8765)
    assert isinstance(error, ServerError)
    assert error.port == 8765
    assert "8765" in str(error)


def test_refused_cid_names_only_a_well_formed_send() -> None:
    """An error names the cid of a refused send, and nothing for other events or bad cids."""
    assert refused_cid({"type": "send", "cid": "a1"}) == "a1"
    assert refused_cid({"type": "typing", "cid": "a1"}) is None
    assert refused_cid({"type": "send", "cid": ""}) is None
    assert refused_cid({"type": "send", "cid": "x" * (MAX_CID + 1)}) is None
    assert refused_cid({}) is None


def test_refused_cid_reads_a_frame_that_decode_refused_for_its_text() -> None:
    """A send whose text holds NUL or a lone surrogate still names its cid, unless the cid does."""
    for text in ("a\\u0000b", "\\udfff"):
        frame = '{"type": "send", "cid": "c1", "text": "' + text + '"}'
        with pytest.raises(BadValueError):
            decode(frame)
        assert refused_cid(frame) == "c1"
    assert refused_cid('{"type": "send", "cid": "c\\u0000", "text": "hi"}') is None
    assert refused_cid('{"type": "typing", "cid": "c1"}') is None
    assert refused_cid("not json") is None
    assert refused_cid("[1]") is None
    assert refused_cid(b'{"type": "send", "cid": "c1"}') is None


def test_new_token_is_fresh_and_url_safe() -> None:
    """Each resume token is new and fits in a URL query unescaped."""
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", token) for token in tokens)


@pytest.mark.parametrize(
    "name",
    [
        "alice\u200b",  # zero-width space
        "al\u200dice",  # zero-width joiner between letters
        "\u2060alice",  # word joiner
        "ali\u00adce",  # soft hyphen
        "evil\u202egnp",  # right-to-left override
        "alice\ufe0f",  # variation selector after a letter
        "\u3164",  # Hangul filler
        "a\u2800b",  # braille blank
        "a\U000e0041",  # tag letter
        "a\ue000",  # private use
        "a\u0378",  # unassigned
    ],
)
def test_names_with_invisible_characters_are_refused(name: str) -> None:
    """Format, default-ignorable, private-use and unassigned characters make a bad_name."""
    error = refused(join(name=name))
    assert error.code == "bad_name"
    assert "invisible" in str(error)


@pytest.mark.parametrize("name", ["\u2764\ufe0f bea", "\U0001f469\u200d\U0001f4bb", "Zoë"])
def test_emoji_may_keep_their_joiners_and_selectors(name: str) -> None:
    """A zero-width joiner or emoji selector right after a symbol is part of an emoji: kept."""
    assert check_name(name) == name


@pytest.mark.parametrize(
    "lookalike",
    [
        "\u0430lice",  # Cyrillic a
        "ali\u0441\u0435",  # Cyrillic es and ie
        "\u0391LICE",  # Greek capital alpha
        "\u0251lice",  # Latin alpha
        "al\u0456ce",  # Cyrillic i
        "alice\u200b",  # invisible, should it ever get past check_name
        "ALICE",
        "\uff41\uff4c\uff49\uff43\uff45",  # full width
    ],
)
def test_look_alike_names_share_the_key_of_the_latin_name(lookalike: str) -> None:
    """Names that look like "alice" (other scripts' letters, width, case) have its key."""
    assert name_key(lookalike) == name_key("alice")


def test_different_names_keep_different_keys() -> None:
    """The skeleton only merges look-alikes: other names, scripts and spacing stay apart."""
    keys = [
        name_key(n) for n in ("alice", "alicia", "bob", "Алиса", "李雷", "ana maria", "anamaria")
    ]
    assert len(set(keys)) == len(keys)
    assert name_key("ana  maria") == name_key("ana maria")


def test_presence_events_are_deltas_and_both_versions_may_join() -> None:
    """joined and left name one person only; a join may say version 1 or 2."""
    assert joined_event("bob") == {"type": "joined", "name": "bob"}
    assert left_event("bob") == {"type": "left", "name": "bob"}
    assert parse({"type": "join", "name": "bob", "v": 2}) == Join("bob")
    assert VERSION == 2
