"""The frame a notebook shows a kit page in: loaded until it answers, in the notebook's theme.

``wslib.show_page`` (the chat page) and ``wslib.Playground`` show their page through a small
loader page held in the frame's ``srcdoc``. The loader shows the kit's page in a frame of
its own and does two things the page cannot do from its own origin:

1. It loads the page again every second until the page says ``"wslib-page-ready"``
   (``READY_MESSAGE``) to its parent: a frame shown just before its server restarts (Run All
   runs the restart cells right after it) would otherwise keep the browser's error page.
2. It passes on the notebook's theme. A ``srcdoc`` document has the origin of the notebook
   page that holds it, so it may read the ``data-jp-theme-light`` attribute that JupyterLab 4
   and Notebook 7 set on their ``<body>`` at each theme change (with ``data-jp-theme-name``;
   ``packages/apputils-extension/src/themesplugins.ts`` in JupyterLab), and watch it. It tells
   the page, whose origin is the kit's server, with ``postMessage``:
   ``{"type": "wslib-theme", "theme": "light" | "dark"}`` (``theme_message``), once the page
   is ready and again at each change. The page takes that message only from its parent and
   only with those two values; an explicit ``?theme=`` in the page's URL still wins
   (``static/frame.js``). Where the notebook page sets no such attribute (a plain browser
   tab, the classic Notebook) or cannot be read, the loader says nothing and the page follows
   the browser's preference.

The page's URL may be relative (``/proxy/PORT/...`` through jupyter-server-proxy): the
loader resolves it against the notebook page, as the frame would.

In a notebook opened untrusted (outputs saved elsewhere, as the kit's notebooks are),
JupyterLab's sanitizer drops frames from HTML outputs; the frame's element holds a line of
text (``UNTRUSTED_HINT``) that the sanitizer keeps and a browser never shows, so the
learner reads what to do instead of an empty output. Running the cell shows the frame.
"""

from __future__ import annotations

import html
import json
from typing import Literal

__all__ = [
    "READY_MESSAGE",
    "THEME_MESSAGE",
    "UNTRUSTED_HINT",
    "PageFrame",
    "frame_html",
    "theme_message",
]

#: What a kit page posts to its parent once it has loaded (``static/frame.js``).
READY_MESSAGE = "wslib-page-ready"
#: The ``type`` of the message that tells a kit page the notebook's theme.
THEME_MESSAGE = "wslib-theme"
#: What a notebook opened untrusted shows where the frame would be.
UNTRUSTED_HINT = "run this cell to show it here (a notebook not trusted yet shows no frames)."


def theme_message(theme: Literal["light", "dark"]) -> dict[str, str]:
    """Return the message the loader posts to tell a page the notebook's ``theme``.

    Raises:
        ValueError: ``theme`` is neither ``"light"`` nor ``"dark"``.
    """
    if theme not in ("light", "dark"):
        raise ValueError(f"theme must be 'light' or 'dark', not {theme!r}")
    return {"type": THEME_MESSAGE, "theme": theme}


# The loader page. CONFIG is replaced by a JSON object: the URL and the two message names.
_LOADER = """<!doctype html><meta charset="utf-8">
<style>
  html, body, iframe { margin: 0; border: 0; width: 100%; height: 100%; display: block; }
</style>
<body>
<script>
const { url, ready: READY, theme: THEME } = CONFIG;
const origin = new URL(url, document.baseURI).origin;
let frame = null;
let ready = false;

// The notebook's theme as JupyterLab marks it on its <body>: "light", "dark", or null where
// the page that holds this frame says nothing or may not be read.
function notebookTheme() {
  try {
    const light = parent.document.body.dataset.jpThemeLight;
    return light === "true" ? "light" : light === "false" ? "dark" : null;
  } catch (error) {
    return null;
  }
}

function tellTheme() {
  const theme = notebookTheme();
  if (theme) document.documentElement.style.colorScheme = theme;
  if (theme && ready) frame.contentWindow.postMessage({ type: THEME, theme: theme }, origin);
}

addEventListener("message", (event) => {
  if (frame && event.source === frame.contentWindow && event.data === READY) {
    ready = true;
    tellTheme();   // again after each load of the page: a reload forgets it
  }
});

try {
  const watcher = new MutationObserver(tellTheme);
  const only = { attributes: true, attributeFilter: ["data-jp-theme-light"] };
  watcher.observe(parent.document.body, only);
  addEventListener("pagehide", () => watcher.disconnect());
} catch (error) {
  // Another origin holds this frame: the page follows the browser's preference.
}

// A new frame each time: an error page at the same URL would take the same URL again as a
// jump to its fragment, not as a new load.
function load() {
  const fresh = document.createElement("iframe");
  fresh.title = document.title;
  fresh.addEventListener("load", () => setTimeout(() => { if (!ready) load(); }, 1000));
  fresh.src = url;
  if (frame) frame.replaceWith(fresh); else document.body.append(fresh);
  frame = fresh;
}
tellTheme();
load();
</script>"""


def _loader(url: str, title: str) -> str:
    config = {"url": url, "ready": READY_MESSAGE, "theme": THEME_MESSAGE}
    # "<" as \\u003c: nothing in the URL can end the script ("</script>") or open a comment.
    script = json.dumps(config).replace("<", "\\u003c")
    return _LOADER.replace("CONFIG", script).replace(
        "<body>", f"<title>{html.escape(title)}</title>\n<body>", 1
    )


def frame_html(
    url: str, height: int, *, width: int | str = "100%", title: str = "", css_class: str = ""
) -> str:
    """Return an ``<iframe>`` that shows ``url`` in the notebook's theme, loaded until it answers.

    Args:
        url: The page to show: absolute, or a path on the notebook's own site.
        height: The frame's height in pixels.
        width: The frame's width, in pixels or as a CSS length such as ``"100%"``.
        title: The frame's accessible name, which screen readers announce.
        css_class: A class for the frame element, e.g. ``"wslib-playground"``.
    """
    loader = _loader(url, title)
    attributes = {
        "class": css_class,
        "title": title,
        "srcdoc": loader,
        "data-src": url,
        "width": str(width),
        "height": str(int(height)),
    }
    shown = " ".join(
        f'{name}="{html.escape(value, quote=True)}"' for name, value in attributes.items() if value
    )
    # The border takes JupyterLab's colour when there is one, so it follows the theme too.
    style = "border: 1px solid var(--jp-border-color1, #ccc); border-radius: 4px;"
    # A browser never shows what an <iframe> element holds; JupyterLab's sanitizer, which
    # drops the frame from an untrusted notebook's outputs, keeps this text in its place.
    hint = html.escape(f"{title or url}: {UNTRUSTED_HINT}", quote=False)
    return f'<iframe {shown} style="{style}">{hint}</iframe>'


class PageFrame:
    """A kit page in a notebook frame (``frame_html``); a notebook cell shows it.

    Args:
        url: The page's address (``wslib.page_url``).
        height: The frame's height in pixels.
        width: The frame's width, in pixels or as a CSS length.
        title: What the page is, for screen readers and for the text form of the output.
        css_class: A class for the frame element.

    Attributes:
        url, height, width, title: As given.
    """

    def __init__(
        self,
        url: str,
        *,
        height: int,
        width: int | str = "100%",
        title: str = "wslib page",
        css_class: str = "",
    ) -> None:
        self.url, self.height, self.width, self.title = url, height, width, title
        self._css_class = css_class

    def _repr_html_(self) -> str:
        return frame_html(
            self.url, self.height, width=self.width, title=self.title, css_class=self._css_class
        )

    def __repr__(self) -> str:
        # What a notebook shows where it cannot show the frame, and what nbval compares.
        return f"{self.title} at {self.url}"
