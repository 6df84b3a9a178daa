"""The checker for notebook 02's exercise: build a client's text frame by hand.

The learner writes ``client_frame(text, key) -> bytes``: a masked text frame, as a client
must send it (RFC 6455, sections 5.2 and 5.3). As for every exercise
(``wslib.teaching.exercises``), a runner records what the function does and what a live
server makes of it, and I/O-free rules judge that record.

Usage in notebook 02::

    print(check_client_frame(client_frame))
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from ..sync.background import start
from ..sync.blocking import SyncClient
from .exercises import Report, Verdict
from .frames import Frame, IncompleteFrame, Opcode, decode_frame, encode_frame, parse_close
from .handshake import parse_response, upgrade_request

__all__ = ["SAMPLES", "FrameRun", "check_client_frame", "frame_verdicts", "run_client_frame"]

Builder = Callable[[str, bytes], bytes]
KEY = bytes.fromhex("37fa213d")  # the masking key of RFC 6455's examples (section 5.7)
LIVE_TEXT = "Hello from a frame built by hand"

#: What the rules try: a short text, one that needs each longer length form, and UTF-8.
SAMPLES = {
    "short": "Hello",
    "126 bytes": "x" * 126,
    "65,536 bytes": "y" * 65536,
    "not ASCII": "héllo wörld",
}


@dataclass
class FrameRun:
    """What a learner's ``client_frame`` returned, and what a live relay made of one frame.

    Attributes:
        built: For each sample in ``SAMPLES``, the bytes returned (or the error raised).
        relayed: What Bob, on the same relay, received after the frame was sent.
        close: The close code and reason the server sent back, if it closed the connection.
    """

    built: dict[str, bytes | str] = field(default_factory=dict)
    relayed: str | None = None
    close: tuple[int, str] | None = None


def _expected(text: str) -> bytes:
    return encode_frame(Frame(Opcode.TEXT, text.encode()), mask=KEY)


def _length(frame: bytes) -> tuple[int, int] | None:
    """Return the 7-bit length code and the length a frame's header says, MASK bit aside."""
    if len(frame) < 2:
        return None
    code = frame[1] & 0x7F
    extra = {126: 2, 127: 8}.get(code, 0)
    if len(frame) < 2 + extra:
        return None
    return code, int.from_bytes(frame[2 : 2 + extra], "big") if extra else code


def _rule(run: FrameRun, name: str, judge: Callable[[bytes], Verdict]) -> Verdict:
    built = run.built.get(name, "nothing")
    if isinstance(built, str):
        return Verdict(False, f"client_frame raised {built} for the {name} text")
    return judge(built)


def _first_byte(built: bytes) -> Verdict:
    if built[:1] == b"\x81":
        return Verdict(True, "the first byte is 0x81: FIN, and opcode 1 for text")
    return Verdict(False, f"the first byte should be 0x81 (FIN, opcode 1), not {built[:1].hex()}")


def _masked(built: bytes) -> Verdict:
    if built == _expected(SAMPLES["short"]):
        return Verdict(True, "the MASK bit is set, the key follows, the payload is masked")
    if len(built) < 2 or not built[1] & 0x80:
        return Verdict(False, "the MASK bit is not set: a client must mask every frame")
    return Verdict(False, "after the length come the 4 key bytes, then byte i XOR key[i % 4]")


def _form(size: int, code: int, width: int) -> Callable[[bytes], Verdict]:
    def judge(built: bytes) -> Verdict:
        if _length(built) == (code, size):
            return Verdict(True, f"a {size:,}-byte text uses the {width}-bit length form")
        return Verdict(
            False,
            f"a {size:,}-byte text needs the {width}-bit length form: {code}, then"
            f" the length in {width // 8} bytes, most significant first",
        )

    return judge


def _utf8(built: bytes) -> Verdict:
    text = SAMPLES["not ASCII"]
    size = len(text.encode())
    if _length(built) == (size, size):
        return Verdict(True, f"the length counts the {size} UTF-8 bytes of {text!r}")
    return Verdict(
        False, f"the length of {text!r} must count its {size} UTF-8 bytes, not {len(text)} letters"
    )


def frame_verdicts(run: FrameRun) -> list[Verdict]:
    """Judge a ``client_frame`` by the frames it built and by what a live relay did."""
    verdicts = [
        _rule(run, "short", _first_byte),
        _rule(run, "short", _masked),
        _rule(run, "126 bytes", _form(126, 126, 16)),
        _rule(run, "65,536 bytes", _form(65536, 127, 64)),
        _rule(run, "not ASCII", _utf8),
    ]
    if run.relayed == f"Received message from peer: {LIVE_TEXT}":
        verdicts.append(Verdict(True, "a live server accepted your frame and Bob received it"))
    elif run.close is not None:
        code, reason = run.close
        verdicts.append(Verdict(False, f"the server closed the connection: {code} {reason}"))
    else:
        verdicts.append(Verdict(False, "Bob never received the text of your frame"))
    return verdicts


def run_client_frame(build: Builder, *, wait: float = 2.0) -> FrameRun:
    """Call ``build`` on each sample, then send its short frame to a live relay by hand."""
    run = FrameRun()
    for name, text in SAMPLES.items():
        try:
            run.built[name] = bytes(build(text, KEY))
        except Exception as exc:  # the rules report it
            run.built[name] = f"{type(exc).__name__}: {exc}"
    try:
        frame = bytes(build(LIVE_TEXT, KEY))
    except Exception:
        return run
    server = start(port=0, name="exercise: client frame")
    try:
        with (
            SyncClient(server.url, reconnect=False) as bob,
            socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock,
        ):
            sock.sendall(upgrade_request(f"127.0.0.1:{server.port}", "/"))
            parse_response(sock.recv(4096))
            sock.sendall(frame)
            try:
                run.relayed = str(bob.recv(timeout=wait))
            except TimeoutError:
                run.close = _read_close(sock)
    finally:
        server.stop()
    return run


def _read_close(sock: socket.socket) -> tuple[int, str] | None:
    """Return the code and reason of a close frame the server sent, if one comes."""
    data = b""
    while True:
        try:
            frame, used = decode_frame(data)
        except IncompleteFrame:
            try:
                chunk = sock.recv(4096)
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
            continue
        if frame.opcode is Opcode.CLOSE:
            return parse_close(frame.payload)
        data = data[used:]


def check_client_frame(build: Builder, *, wait: float = 2.0) -> Report:
    """Run notebook 02's "build a client frame" exercise for real and judge it, rule by rule.

    Usage in notebook 02::

        print(check_client_frame(client_frame))
    """
    verdicts = frame_verdicts(run_client_frame(build, wait=wait))
    return Report("build a client frame", tuple(verdicts))
