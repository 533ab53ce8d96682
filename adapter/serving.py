"""How uvicorn serves the app, in one place for `adapter serve` and `adapter dev`.

- The request head (request line + headers) is bounded by `MAX_HEADER_BYTES`: uvicorn
  bounds it only for h11 (`h11_max_incomplete_event_size`); its httptools protocol,
  the fast one we run, buffers a header of any size. `BoundedHeadProtocol` counts what
  arrives until the headers are complete and answers 431 past the bound. It extends
  uvicorn's protocol through the `http=` class uvicorn accepts, and only through its
  parser callbacks and `data_received`; `tests/app/test_serving.py` checks it
  against the installed uvicorn.
- Proxy headers (`X-Forwarded-For`, `X-Forwarded-Proto`) are believed only from
  `TRUSTED_PROXIES`; then a request that reached the proxy over TLS has scheme https,
  and the admin session cookie is `Secure`.
"""

from __future__ import annotations

from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from adapter.settings import Settings

_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 32\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"request header fields too large\n"
)


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over the configured bound."""

    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._head_limit = config.h11_max_incomplete_event_size or 64 * 1024
        self._head_bytes = 0
        self._head_done = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._head_done = False

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_done or self.parser is None or self.transport.is_closing():
            return
        # the parser keeps a partial header in memory: stop before it grows past the bound
        self._head_bytes += len(data)
        if self._head_bytes > self._head_limit:
            self.logger.info("refused a request head over %d bytes", self._head_limit)
            self.transport.write(_REFUSAL)
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of `uvicorn.run` / `uvicorn.Config` the settings decide."""
    trusted = settings.trusted_proxies
    return {
        "http": BoundedHeadProtocol,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": ",".join(trusted) if trusted else None,
    }
