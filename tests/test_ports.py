"""Tests for wslib.server.ports: free ports outside the range the kernel lends out."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from wslib.server import ports
from wslib.server.ports import ephemeral_range, restartable_port


def test_ephemeral_range_is_linuxs_setting_or_ianas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The range comes from ip_local_port_range; without that file it is IANA's 49152-65535."""
    setting = tmp_path / "ip_local_port_range"
    setting.write_text("32768\t60999\n")
    monkeypatch.setattr(ports, "_LINUX_RANGE", setting)
    assert ephemeral_range() == (32768, 60999)
    monkeypatch.setattr(ports, "_LINUX_RANGE", tmp_path / "missing")
    assert ephemeral_range() == (49152, 65535)


def test_restartable_port_is_free_and_below_the_ephemeral_range() -> None:
    """The port returned is below the range and a listening socket can bind it."""
    port = restartable_port()
    assert port is not None
    assert 20000 <= port < ephemeral_range()[0]
    with socket.create_server(("127.0.0.1", port)):
        pass


def test_restartable_port_skips_a_port_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port something listens on is passed over; with every try taken, None comes back."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        free = restartable_port()
        assert free is not None
        draws = iter([taken, free])
        monkeypatch.setattr(ports.random, "randrange", lambda *_: next(draws))
        assert restartable_port(tries=2) == free
        monkeypatch.setattr(ports.random, "randrange", lambda *_: taken)
        assert restartable_port(tries=3) is None
