"""A fault-injecting HTTP proxy for sync tests: real sockets between station and receiver.

Each request takes the next fault from a queue (none: pass it through):

- `503` / `429`: answered by the proxy itself (503 with `Retry-After: 1`, or N seconds
  for `503:N`; 429 without);
- `reset`: forwarded, the receiver answers (it has committed), then the proxy sends half
  the answer and resets the connection;
- `slow`: forwarded, and the answer held back longer than the client's timeout.

`down()` closes the listening socket, so connections are refused, until `up()`;
`blackout(s)` does both around a pause, in the background.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import struct
import threading
import time


def _read_message(sock: socket.socket) -> bytes | None:
    """One HTTP/1.1 message with a Content-Length body, or None at end of stream."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: the peer sees "connection reset"."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class FaultProxy:
    def __init__(self, upstream_port: int, slow_s: float = 3.0):
        self.upstream = ("127.0.0.1", upstream_port)
        self.slow_s = slow_s
        self.faults: collections.deque[str] = collections.deque()
        self.counts: collections.Counter[str] = collections.Counter()
        self.refused_windows = 0
        self._lock = threading.Lock()
        self._clients: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *faults: str) -> None:
        with self._lock:
            self.faults.extend(faults)

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and drop the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            clients, self._clients = self._clients, set()
            self.refused_windows += 1
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for client in clients:
            with contextlib.suppress(OSError):
                _reset(client)

    def blackout(self, seconds: float) -> threading.Thread:
        def run() -> None:
            self.down()
            time.sleep(seconds)
            self.up()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._clients.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            while True:
                request = _read_message(client)
                if request is None:
                    break
                with self._lock:
                    fault = self.faults.popleft() if self.faults else "pass"
                    self.counts[fault] += 1
                if fault.startswith("503"):
                    retry_after = fault.partition(":")[2] or "1"
                    client.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: "
                                   + retry_after.encode() + b"\r\nContent-Length: 0\r\n\r\n")
                    continue
                if fault == "429":
                    client.sendall(b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n")
                    continue
                answer = self._forward(request)
                if fault == "reset":
                    client.sendall(answer[: len(answer) // 2])
                    _reset(client)
                    return
                if fault == "slow":
                    time.sleep(self.slow_s)
                client.sendall(answer)
        except OSError:
            pass
        finally:
            with self._lock:
                self._clients.discard(client)
            with contextlib.suppress(OSError):
                client.close()

    def _forward(self, request: bytes) -> bytes:
        with socket.create_connection(self.upstream, timeout=30) as upstream:
            upstream.sendall(request)
            answer = _read_message(upstream)
        if answer is None:
            raise OSError("upstream closed")
        return answer
