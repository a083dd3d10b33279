"""Fixtures for the data-preparation tests: a loopback HTTP file server (127.0.0.1, ephemeral port)."""

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Handler(BaseHTTPRequestHandler):
    timeout = 10  # a stuck client cannot hold a server thread for longer

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        with server.lock:
            server.requests.append((self.path, self.headers.get("Range")))
            over_limit = len(server.requests) > server.max_requests
            failures_left = server.fail_first.get(self.path, 0)
            if failures_left:
                server.fail_first[self.path] = failures_left - 1
            cut = server.drop_after.pop(self.path, None)
            trickles = server.trickle_first.get(self.path, 0)
            if trickles:
                server.trickle_first[self.path] = trickles - 1
        if over_limit or failures_left:
            return self.send_error(503)
        body = server.files.get(self.path)
        if body is None:
            return self.send_error(404)
        start = self._range_start() if server.range_support else 0
        if start >= len(body) > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if start:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if trickles:
            return self._trickle(payload)
        if cut is None:
            self.wfile.write(payload)
            return
        # Announce the whole length, send part of it, and hang up: a connection lost mid-file.
        self.wfile.write(payload[:cut])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _trickle(self, payload: bytes) -> None:
        """Send trickle_head bytes, then one byte per trickle_interval_s: a stalled transfer."""
        server = self.server
        self.wfile.write(payload[:server.trickle_head])
        give_up = time.monotonic() + server.trickle_limit_s
        try:
            for i in range(server.trickle_head, len(payload)):
                if time.monotonic() > give_up:
                    server.outlasted.append(self.path)
                    break
                time.sleep(server.trickle_interval_s)
                self.wfile.write(payload[i:i + 1])
        except OSError:
            return  # the client gave up, as it should
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _range_start(self) -> int:
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        return int(match.group(1)) if match else 0

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass  # the connection was dropped on purpose


class FileServer(ThreadingHTTPServer):
    """Serves `files` (URL path -> bytes) on 127.0.0.1 and records every request."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes]):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files = dict(files)
        self.range_support = True
        self.drop_after: dict[str, int] = {}  # path -> bytes sent before hanging up (once)
        self.fail_first: dict[str, int] = {}  # path -> how many 503 replies come first
        self.trickle_first: dict[str, int] = {}  # path -> how many replies trickle (see Handler._trickle)
        self.trickle_head = 500
        self.trickle_interval_s = 0.2
        self.trickle_limit_s = 30.0  # then the server hangs up: a client that waits forever fails, not hangs
        self.outlasted: list[str] = []  # paths whose trickle the client sat through until trickle_limit_s
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.max_requests = 300  # a runaway retry loop ends in 503s, not a hung test
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def serve(monkeypatch):
    """serve(files) starts a FileServer; all are stopped when the test ends."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    started = []

    def start(files: dict[str, bytes]) -> FileServer:
        server = FileServer(files)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
