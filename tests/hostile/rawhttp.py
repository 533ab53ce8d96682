"""A raw HTTP/1.1 client: sends exactly the bytes given, so that requests an ordinary
client refuses to build (CR or LF in a header, a lying Content-Length, a broken
chunked body, a huge header) reach the server as a hostile client would send them."""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass, field

CHUNK = 16 * 1024


@dataclass(frozen=True)
class Request:
    method: str = "POST"
    target: str = "/"
    # (name, value) in order; bytes are sent as they are, str as latin-1
    headers: tuple[tuple[str, str | bytes], ...] = ()
    body: bytes = b""
    # "length": a correct Content-Length; "chunked": Transfer-Encoding: chunked;
    # "none": neither (the headers given may still declare one)
    framing: str = "length"
    # close our side after sending only this many bytes of the body (a truncated upload)
    truncate_at: int | None = None


@dataclass
class Answer:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # why no status line came back (the server closed the connection)
    error: str | None = None


def _encode(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def _chunked(body: bytes) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + CHUNK]), body[i : i + CHUNK])
        for i in range(0, len(body), CHUNK)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def serialize(request: Request, host: str) -> bytes:
    lines = [_encode(f"{request.method} ") + _encode(request.target) + b" HTTP/1.1"]
    lines.append(_encode(f"Host: {host}"))
    for name, value in request.headers:
        lines.append(_encode(name) + b": " + _encode(value))
    body = request.body
    if request.framing == "length":
        lines.append(b"Content-Length: %d" % len(body))
    elif request.framing == "chunked":
        lines.append(b"Transfer-Encoding: chunked")
        body = _chunked(body)
    lines.append(b"Connection: close")
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    if request.truncate_at is not None:
        body = body[: request.truncate_at]
    return head + body


def send(port: int, request: Request, timeout: float = 15.0) -> Answer:
    """Send the request on a new connection and read the answer, if one comes."""
    data = serialize(request, f"127.0.0.1:{port}")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if request.truncate_at is not None:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            # the server answered and closed before taking everything (a body over
            # the limit): its answer may still be waiting to be read
            pass
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Answer(None, error=f"{type(exc).__name__}: {exc}")
        return Answer(response.status, dict(response.getheaders()), body)
