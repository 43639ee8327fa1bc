"""HTTP plumbing: request/response objects and a threaded HTTPS server.

Standard library only (``http.server`` + ``ssl``). Connections are HTTP/1.1 keep-alive;
every response carries Content-Length (except 204) and is written with one send, so a
``requests.Session`` reuses its connection without Nagle/delayed-ACK stalls. The TLS
handshake runs in the connection's own thread, never in the accept loop. Request bodies
come with Content-Length or chunked (a streamed Bulk API upload), up to MAX_BODY_BYTES.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, unquote_plus

from salesforce_emulator.errors import ApiError

if TYPE_CHECKING:
    from salesforce_emulator.org import Org

JSON_TYPE = "application/json;charset=UTF-8"
CSV_TYPE = "text/csv"
HTML_TYPE = "text/html;charset=UTF-8"
# The largest request body read: a Bulk API 2.0 upload, Salesforce's largest, is at
# most 150 MB once base64-encoded, so well under this before.
MAX_BODY_BYTES = 150 * 1024 * 1024
# A chunk-size line ("1a2b;name=value") or a trailer line is never longer than this.
MAX_LINE_BYTES = 8192
# How long a refused request's connection waits for the client to stop sending.
LINGER_SECONDS = 2.0
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_LENGTH = re.compile(r"[0-9]{1,19}")


@dataclass
class Request:
    method: str
    path: str  # without the query string, still percent-encoded
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    org: Org | None = None
    user_id: str = ""
    version: str = ""
    wrote: bool = False  # set by handlers that applied a write call

    @property
    def raw_segments(self) -> list[str]:
        return [s for s in self.path.split("/") if s]

    @property
    def segments(self) -> list[str]:
        return [unquote(s) for s in self.raw_segments]

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        if not self.body:
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body is empty")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(
                400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}"
            ) from None

    def text(self) -> str:
        try:
            return self.body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ApiError(400, "INVALID_REQUEST", "The body is not UTF-8") from None

    def form(self) -> dict[str, str]:
        """Form fields (body for POST, else query string); first value of each."""
        source = self.body.decode("utf-8", "replace") if self.body else ""
        fields = {k: v[0] for k, v in parse_qs(source, keep_blank_values=True).items()}
        for key, values in self.query.items():
            fields.setdefault(key, values[0])
        return fields

    def bearer(self) -> str | None:
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and token.strip():
            return token.strip()
        return self.param("oauth_token")


def decode_plus(raw_segment: str) -> str:
    return unquote_plus(raw_segment)


def read_sized(
    rfile: io.BufferedIOBase, content_length: str | None, limit: int
) -> bytes:
    """A body of ``Content-Length`` bytes (none without the header).

    Raises ApiError: 400 for a length that is not a number or a body cut short,
    413 for a length over ``limit``.
    """
    if not content_length:
        return b""
    if not _LENGTH.fullmatch(content_length.strip()):
        raise ApiError(400, "INVALID_REQUEST", "Content-Length is not a number")
    length = int(content_length)
    if length > limit:
        raise _too_large(limit)
    body = rfile.read(length)
    if len(body) < length:
        raise ApiError(
            400, "INVALID_REQUEST", "The body ends before its Content-Length"
        )
    return body


def read_chunked(rfile: io.BufferedIOBase, limit: int) -> bytes:
    """A body sent with ``Transfer-Encoding: chunked``: chunks, each after its size
    in hexadecimal, up to a chunk of size 0 and optional trailer fields.

    Raises ApiError: 400 for a malformed body, 413 for one over ``limit`` bytes
    (found before reading the chunk that would pass it).
    """
    chunks: list[bytes] = []
    total = 0
    while size := _chunk_size(_chunk_line(rfile)):
        total += size
        if total > limit:
            raise _too_large(limit)
        chunk = rfile.read(size)
        if len(chunk) < size:
            raise _malformed("the body ends inside a chunk")
        if _chunk_line(rfile) not in (b"\r\n", b"\n"):
            raise _malformed("a chunk is longer than its size")
        chunks.append(chunk)
    # Trailer fields, up to an empty line: nothing here uses them.
    while _chunk_line(rfile) not in (b"\r\n", b"\n"):
        pass
    return b"".join(chunks)


def _chunk_line(rfile: io.BufferedIOBase) -> bytes:
    line = rfile.readline(MAX_LINE_BYTES + 1)
    if not line.endswith(b"\n"):
        raise _malformed("a line is cut short or too long")
    return line


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip()
    if not _CHUNK_SIZE.fullmatch(digits):
        raise _malformed(f"{digits[:20].decode('latin-1')!r} is not a chunk size")
    return int(digits, 16)


def _malformed(reason: str) -> ApiError:
    return ApiError(400, "INVALID_REQUEST", f"Malformed chunked body: {reason}")


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "REQUEST_ENTITY_TOO_LARGE", f"The request body is over {limit} bytes"
    )


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False  # close the connection without answering
    exit_process: bool = False  # terminate the process without answering

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(data, separators=(",", ":")).encode())

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status, b"", "")

    @classmethod
    def error(cls, error: ApiError) -> Response:
        return cls.json(error.body(), error.status)

    @classmethod
    def dropped(cls) -> Response:
        return cls(0, drop=True)


Handler = Callable[[Request], Response]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SalesforceEmulator/1.0"
    sys_version = ""
    timeout = 300
    server: EmulatorServer

    def setup(self) -> None:
        super().setup()
        sock = self.connection
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(sock, ssl.SSLSocket):
            sock.do_handshake()
        self.server.track(sock, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return read_chunked(self.rfile, MAX_BODY_BYTES)
        return read_sized(
            self.rfile, self.headers.get("Content-Length"), MAX_BODY_BYTES
        )

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except ApiError as error:
            self._refuse_body(error)
            return
        request = Request(
            self.command,
            path,
            parse_qs(query, keep_blank_values=True),
            self.headers,
            body,
        )
        try:
            response = self.server.app(request)
        except Exception:
            traceback.print_exc()
            response = Response.json(
                [
                    {
                        "errorCode": "UNKNOWN_EXCEPTION",
                        "message": "An unexpected error occurred",
                    }
                ],
                500,
            )
        if response.exit_process:
            self.server.exit_now()
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(response)

    def _refuse_body(self, error: ApiError) -> None:
        """Answer a body that cannot be read, then close the connection.

        Where the body ends is unknown, so no other request can follow on this
        connection. What the client still sends is read and dropped until it closes
        or pauses for LINGER_SECONDS: a socket closed with unread data resets the
        connection, and the client could lose the answer.
        """
        self.close_connection = True
        self._write(Response.error(error))
        with contextlib.suppress(OSError):
            self.connection.settimeout(LINGER_SECONDS)
            while self.rfile.read1(65536):
                pass

    def _write(self, response: Response) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Date: {self.date_time_string(self.server.clock())}",
            f"Server: {self.server_version}",
        ]
        if response.content_type:
            lines.append(f"Content-Type: {response.content_type}")
        if response.status not in (204, 304):
            lines.append(f"Content-Length: {len(response.body)}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = (
            b""
            if self.command == "HEAD" or response.status in (204, 304)
            else response.body
        )
        self.wfile.write(head + body)
        self.log_request(response.status, len(body))

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _dispatch


class EmulatorServer(ThreadingHTTPServer):
    """Threaded HTTPS server calling ``app(request) -> response`` for every request."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        app: Handler,
        context: ssl.SSLContext | None,
        verbose: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.verbose = verbose
        # The Date header follows the emulated org's clock, as Salesforce's follows
        # its own: clients read the org's time from it.
        self.clock = clock
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self.on_exit: Callable[[], None] | None = None
        super().__init__(address, _RequestHandler)
        if context is not None:
            self.socket = context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.verbose:
            super().handle_error(request, client_address)

    def track(self, sock: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            if alive:
                self._connections.add(sock)
            else:
                self._connections.discard(sock)

    def close_connections(self) -> None:
        with self._conn_lock:
            connections = list(self._connections)
            self._connections.clear()
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def exit_now(self) -> None:
        if self.on_exit is not None:
            self.on_exit()
        os._exit(3)
