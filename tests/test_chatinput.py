"""Tests for wslib.notebook.chatinput without a browser: which messages send, and what.

The front end's side (Enter, Send, leaving the box) is proven in tests/test_browser.py;
here a message is delivered as ipywidgets delivers the browser's custom messages.
"""

from __future__ import annotations

from typing import Any

import pytest

from wslib.notebook.chatinput import ChatInput, text_to_send


def deliver(box: ChatInput, content: Any) -> None:
    """Deliver ``content`` to ``box`` as a custom message from its front end."""
    box._handle_custom_msg(content, [])


def test_a_send_message_calls_every_callback_with_its_text() -> None:
    """The text of a send message reaches each callback, unchanged, spaces and all."""
    box = ChatInput("Message from Bob")
    seen: list[tuple[str, str]] = []
    box.on_send(lambda text: seen.append(("first", text)))
    box.on_send(lambda text: seen.append(("second", text)))
    deliver(box, {"event": "send", "text": "  hi <b>Bob</b>\n"})
    assert seen == [("first", "  hi <b>Bob</b>\n"), ("second", "  hi <b>Bob</b>\n")]


@pytest.mark.parametrize(
    "content",
    [
        {"event": "send", "text": " \t\n"},
        {"event": "send", "text": ""},
        {"event": "send"},
        {"event": "send", "text": ["hi"]},
        {"event": "submit"},
        {"text": "hi"},
        "hi",
        None,
    ],
)
def test_blank_or_malformed_messages_send_nothing(content: Any) -> None:
    """Only a send event with a string of more than white space asks to send."""
    box = ChatInput("Message from Bob")
    seen: list[str] = []
    box.on_send(seen.append)
    deliver(box, content)
    assert text_to_send(content) is None
    assert seen == []


def test_a_state_update_sends_nothing() -> None:
    """A state update, such as a text box commits on blur, is not a send."""
    box = ChatInput("Message from Bob")
    seen: list[str] = []
    box.on_send(seen.append)
    box.set_state({"value": "half-typed", "label": "Message from Bo"})
    assert seen == []
    assert box.label == "Message from Bo"


def test_label_and_placeholder_are_synced_traits() -> None:
    """The box's label and placeholder go to the front end, which sets them on the input."""
    box = ChatInput("Message from Bob", placeholder="message from Bob, then Enter")
    state = box.get_state()
    assert (state["label"], state["placeholder"]) == (
        "Message from Bob",
        "message from Bob, then Enter",
    )
    assert repr(box) == "ChatInput('Message from Bob')"
