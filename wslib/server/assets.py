"""The pages the server sends over plain HTTP, read once from the package's ``static`` folder.

The gate (``wslib.core.gate``) decides which page a request gets and what policy it carries;
this module, on the I/O side, reads the files. A page that says
``// wslib:include NAME`` on a line of its own gets the file ``NAME`` in that line's place:
that is how the kit's JavaScript display rule, ``static/printable.js``, is written once and
shipped in every page. The playground's line ``const RUN_KEY = "";  // wslib:run-key``
gets the serving server's key (``with_run_key``): a link runs its script at once only if
it holds that key (``wslib.notebook.playground``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from importlib import resources

from ..core.gate import PAGE, PLAYGROUND

__all__ = ["page_html", "pages", "playground_html", "with_run_key"]

_INCLUDE = "// wslib:include "
_RUN_KEY_LINE = 'const RUN_KEY = "";  // wslib:run-key'
_RUN_KEY = re.compile(r"[A-Za-z0-9_-]{16,}")  # secrets.token_urlsafe's alphabet


def _static(name: str) -> str:
    text = resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")
    return "".join(
        _static(line.strip().removeprefix(_INCLUDE)) if line.strip().startswith(_INCLUDE) else line
        for line in text.splitlines(keepends=True)
    )


@functools.cache
def page_html() -> str:
    """Return the chat page's HTML, with its includes in place."""
    return _static(PAGE)


@functools.cache
def playground_html() -> str:
    """Return the JavaScript playground's HTML, with its includes in place."""
    return _static(PLAYGROUND)


def with_run_key(html: str, key: str) -> str:
    """Return the playground's HTML with ``key`` as the key that lets a link run its script.

    Raises:
        ValueError: ``key`` is not at least 16 URL-safe characters, or the page has no
            place for it.
    """
    if not _RUN_KEY.fullmatch(key):
        raise ValueError("a run key is at least 16 of A-Z, a-z, 0-9, '_' and '-'")
    if html.count(_RUN_KEY_LINE) != 1:
        raise ValueError("the playground has no single RUN_KEY line to fill in")
    return html.replace(_RUN_KEY_LINE, f'const RUN_KEY = "{key}";')


def pages(run_key: str) -> Mapping[str, str]:
    """Return every page the gate may answer with, by its file name.

    Args:
        run_key: The serving server's key for running a playground link's script at once.
    """
    return {PAGE: page_html(), PLAYGROUND: with_run_key(playground_html(), run_key)}
