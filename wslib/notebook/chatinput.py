"""A text box and a Send button that send on Enter or a click, and never when left.

ipywidgets' ``Text`` cannot do this alone. With ``continuous_update=False`` it commits its
value on Enter *and* when the focus leaves the box, and the two look the same in Python.
Its Enter also sends a separate ``submit`` message, but the front end may hold back state
updates while it sends custom messages at once, so reading ``value`` on submit can miss the
last keystrokes. ``ChatInput`` is an anywidget (https://anywidget.dev) whose front-end
module (``static/chatinput.js``) sends one custom message that carries the text itself.

Usage::

    box = ChatInput("Message from Bob", placeholder="message from Bob, then Enter")
    box.on_send(print)   # called with the text, on the kernel's thread
    box                  # a view of it

What the front end does, in every view:

1. Enter in the box (not while an input method is composing a character), or a click on
   Send, takes the box's text as it is at that moment.
2. A text with more than spaces goes to Python in one message, ``{"event": "send",
   "text": ...}``, and the box empties at once; on Enter the focus stays in the box.
3. Leaving the box sends nothing: the text waits there for Enter or Send.

The box is an ``<input>`` inside ``.chat-input``, labelled by ``label`` for screen readers,
and Send is ``button.chat-send``, labelled "Send " and ``label`` (each pane's Send says
whose box it sends); both wear ipywidgets' own classes, so they look like its
``Text`` and primary ``Button`` in JupyterLab's light and dark themes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

__all__ = ["ChatInput", "text_to_send"]

_STATIC = Path(__file__).with_name("static")


def text_to_send(content: Any) -> str | None:
    """Return the text a message from the front end asks to send, or ``None``.

    Args:
        content: A custom message's content, as the front end sent it.

    Returns:
        The text of a ``{"event": "send", "text": ...}`` message when it holds more than
        white space; ``None`` for anything else.
    """
    if not isinstance(content, dict) or content.get("event") != "send":
        return None
    text = content.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    return text


class ChatInput(anywidget.AnyWidget):
    """Show a text box and a Send button; call back with the text on Enter or Send.

    Args:
        label: What a screen reader calls the box (its ``aria-label``).
        placeholder: The hint shown in the empty box.
    """

    _esm = (_STATIC / "chatinput.js").read_text(encoding="utf-8")
    _css = (_STATIC / "chatinput.css").read_text(encoding="utf-8")

    label = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)

    def __init__(self, label: str, *, placeholder: str = "") -> None:
        super().__init__(label=label, placeholder=placeholder)
        self._callbacks: list[Callable[[str], None]] = []
        self.on_msg(self._on_msg)

    def on_send(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(text)`` with each text sent from the box, on the kernel's thread."""
        self._callbacks.append(callback)

    def __repr__(self) -> str:
        return f"ChatInput({self.label!r})"

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        text = text_to_send(content)
        if text is not None:
            for callback in self._callbacks:
                callback(text)
