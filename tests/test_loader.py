"""Tests for wslib.notebook.loader: the frame's HTML, its escaping and its messages.

What the loader does in a browser is proven in ``tests/test_loader_browser.py``; these
tests read the HTML a notebook cell would hold.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from wslib.notebook.loader import (
    READY_MESSAGE,
    THEME_MESSAGE,
    UNTRUSTED_HINT,
    PageFrame,
    frame_html,
    theme_message,
)
from wslib.server.assets import page_html, playground_html

HOSTILE_URL = 'x" onload="y</script><script>alert(1)//&amp;<!--'


class Frames(HTMLParser):
    """Collect each ``<iframe>``'s attributes and the text it holds, as a browser parses them."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[dict[str, str | None]] = []
        self.texts: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe":
            self.frames.append(dict(attrs))
            self.texts.append("")
            self._inside = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "iframe":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.texts[-1] += data


def parsed(shown: str) -> tuple[dict[str, str | None], str]:
    """Return the one frame's attributes (unescaped) and the text inside its element."""
    parser = Frames()
    parser.feed(shown)
    parser.close()
    assert len(parser.frames) == 1, shown
    return parser.frames[0], parser.texts[0]


def config(loader: str) -> dict[str, str]:
    """Return the JSON object the loader's script starts from."""
    found = re.search(r"const \{ url, ready: READY, theme: THEME \} = (\{.*?\});", loader)
    assert found is not None, loader
    value: dict[str, str] = json.loads(found.group(1))
    return value


def test_the_frame_holds_the_loader_with_the_url_and_says_what_it_shows() -> None:
    """class, title, size and the URL (data-src, and in the loader's config) as given."""
    attributes, _ = parsed(
        frame_html("/proxy/8080/?token=t", 320, width=500, title="chat", css_class="wslib-page")
    )
    assert attributes["class"] == "wslib-page"
    assert attributes["title"] == "chat"
    assert attributes["data-src"] == "/proxy/8080/?token=t"
    assert (attributes["width"], attributes["height"]) == ("500", "320")
    loader = attributes["srcdoc"] or ""
    assert config(loader) == {
        "url": "/proxy/8080/?token=t",
        "ready": READY_MESSAGE,
        "theme": THEME_MESSAGE,
    }
    assert "<title>chat</title>" in loader


def test_a_hostile_url_ends_neither_the_attribute_nor_the_loaders_script() -> None:
    """Quotes, tags and comments in the URL stay inside the JSON string, which decodes back."""
    shown = frame_html(HOSTILE_URL, 100, title='a "title" </iframe><b>')
    attributes, text = parsed(shown)
    assert set(attributes) == {"title", "srcdoc", "data-src", "width", "height", "style"}
    assert attributes["data-src"] == HOSTILE_URL
    loader = attributes["srcdoc"] or ""
    assert loader.count("<script>") == 1
    assert loader.count("</script>") == 1
    assert "<!--" not in loader
    assert config(loader)["url"] == HOSTILE_URL
    assert "<title>a &quot;title&quot; &lt;/iframe&gt;&lt;b&gt;</title>" in loader
    assert shown.count("</iframe>") == 1
    assert "<b>" not in shown
    assert text.startswith('a "title" </iframe><b>: ')  # as text, in the element only


def test_the_loader_loads_again_until_ready_and_watches_the_notebooks_theme() -> None:
    """It reloads until the page's ready message; it reads and observes data-jp-theme-light
    and posts the theme message to the page's origin only."""
    attributes, _ = parsed(frame_html("http://127.0.0.1:8080/playground#script=x", 200))
    loader = attributes["srcdoc"] or ""
    assert "event.data === READY" in loader
    assert "if (!ready) load();" in loader
    assert "parent.document.body.dataset.jpThemeLight" in loader
    assert 'attributeFilter: ["data-jp-theme-light"]' in loader
    assert "postMessage({ type: THEME, theme: theme }, origin)" in loader


def test_the_theme_message_is_a_type_and_one_of_two_themes() -> None:
    """{"type": "wslib-theme", "theme": ...} with light or dark only; as the pages expect."""
    assert theme_message("dark") == {"type": "wslib-theme", "theme": "dark"}
    assert theme_message("light") == {"type": THEME_MESSAGE, "theme": "light"}
    with pytest.raises(ValueError, match="theme must be"):
        theme_message("purple")  # type: ignore[arg-type]
    for page in (page_html(), playground_html()):
        assert 'data.type === "wslib-theme"' in page
        assert f'window.parent.postMessage("{READY_MESSAGE}", "*")' in page
        assert "event.source === window.parent" in page


def test_an_untrusted_notebook_shows_a_hint_where_the_frame_was() -> None:
    """The element's text, which a browser never shows, names the page and what to do."""
    _, text = parsed(frame_html("http://127.0.0.1:8080/", 100, title="wslib chat page"))
    assert text == f"wslib chat page: {UNTRUSTED_HINT}"
    _, text = parsed(frame_html("http://127.0.0.1:8080/<x>", 100))
    assert text == f"http://127.0.0.1:8080/<x>: {UNTRUSTED_HINT}"


def test_a_page_frame_shows_the_frame_and_names_its_page_in_text() -> None:
    """A notebook shows the frame; nbval and a plain console see the title and the URL."""
    frame = PageFrame("http://127.0.0.1:8080/", height=300, title="wslib chat page")
    assert frame._repr_html_() == frame_html("http://127.0.0.1:8080/", 300, title="wslib chat page")
    assert repr(frame) == "wslib chat page at http://127.0.0.1:8080/"
