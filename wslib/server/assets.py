"""The pages the server sends over plain HTTP, read once from the package's ``static`` folder.

The gate (``wslib.core.gate``) decides which page a request gets and what policy it carries;
this module, on the I/O side, reads the files. A page that says
``// wslib:include NAME`` on a line of its own gets the file ``NAME`` in that line's place:
that is how the kit's JavaScript display rule, ``static/printable.js``, is written once and
shipped in every page.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources

from ..core.gate import PAGE, PLAYGROUND

__all__ = ["page_html", "pages", "playground_html"]

_INCLUDE = "// wslib:include "


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


def pages() -> Mapping[str, str]:
    """Return every page the gate may answer with, by its file name."""
    return {PAGE: page_html(), PLAYGROUND: playground_html()}
