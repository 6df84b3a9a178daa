"""Helpers for tests that drive the kit's pages in headless Chromium (``browser`` in conftest).

``Watched`` is a page in a fresh context that records console errors and dialogs; ``PrefixProxy``
serves a port under ``/proxy/PORT/`` as jupyter-server-proxy does. Chromium comes from the
system (``CHROMIUM``, default ``/usr/bin/chromium``); the tests skip without it, unless
``WSLIB_REQUIRE_ALL=1``. Playwright's own browser download is never used.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from support import TIMEOUT

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

__all__ = ["PrefixProxy", "Watched", "expect"]


class Watched:
    """A page in a fresh browser context, with its console errors and dialogs recorded."""

    def __init__(self, browser: Any, **options: Any) -> None:
        """Open the page; ``options`` go to ``browser.new_context`` (``color_scheme``, ...)."""
        self.context = browser.new_context(viewport={"width": 560, "height": 420}, **options)
        self.page = self.context.new_page()
        self.page.set_default_timeout(2 * TIMEOUT * 1000)
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def join(self, url: str, name: str) -> Any:
        """Open the page at ``url``, join as ``name`` and wait for the welcome."""
        page = self.page
        page.goto(url)
        page.locator("#name").fill(name)
        page.locator("#join").click()
        expect(page.locator("#status")).to_have_text(f"joined as {name}")
        return page

    def say(self, text: str, to: str = "") -> None:
        """Send ``text`` (privately when ``to`` is a name) with the page's own form."""
        self.page.locator("#to").select_option(to)
        self.page.locator("#text").fill(text)
        self.page.locator("#text").press("Enter")


class PrefixProxy:
    """A tiny reverse proxy that serves ``upstream`` under ``/proxy/PORT/``, as
    jupyter-server-proxy does: it strips the prefix from each request line and passes the
    ``Host`` header on unchanged."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.prefix = f"/proxy/{upstream_port}"
        self.port = 0
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_writer = None
        try:
            line = await reader.readline()
            method, target, version = line.decode("latin-1").split(" ", 2)
            self.requests.append(target)
            if not target.startswith(self.prefix + "/"):
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port
            )
            stripped = target[len(self.prefix) :]
            upstream_writer.write(f"{method} {stripped} {version}".encode("latin-1"))
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        except (OSError, ValueError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()
