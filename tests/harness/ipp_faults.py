"""A fault-injecting proxy in front of a real cupsd, on a Unix socket: real CUPS behind,
with chosen jobs answered by an IPP error instead.

The station talks to the proxy as its CUPS server (`[cups] server = "<socket>"`). Every
request passes through to cupsd unchanged, except a Create-Job (or Print-Job) whose
`job-name` is doomed: the proxy answers it itself with the IPP status asked for, and
cupsd never sees it. `doom_next(status)` dooms the job name of the next Create-Job that
arrives, and every later request for that name, so one job fails on every try while
the jobs behind it print.
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import struct
import threading
from pathlib import Path

CREATE_JOB, PRINT_JOB = 0x0005, 0x0002
INTERNAL_ERROR = 0x0500                 # server-error-internal-error
DOCUMENT_FORMAT_NOT_SUPPORTED = 0x040A  # client-error-document-format-not-supported


def _attr(tag: int, name: bytes, value: bytes) -> bytes:
    return struct.pack(">BH", tag, len(name)) + name + struct.pack(">H", len(value)) + value


def ipp_answer(request: bytes, status: int, message: str) -> bytes:
    """An HTTP answer holding an IPP response to `request` with `status`."""
    body = (request[:2] + struct.pack(">H", status) + request[4:8] + b"\x01"
            + _attr(0x47, b"attributes-charset", b"utf-8")
            + _attr(0x48, b"attributes-natural-language", b"en")
            + _attr(0x41, b"status-message", message.encode()) + b"\x03")
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def job_name(body: bytes) -> str | None:
    """The `job-name` operation attribute of an IPP request, if it has one."""
    key = b"\x42\x00\x08job-name"
    at = body.find(key)
    if at < 0:
        return None
    start = at + len(key)
    (length,) = struct.unpack(">H", body[start:start + 2])
    return body[start + 2:start + 2 + length].decode("utf-8", "replace")


class _Stream:
    """Buffered reads from a socket: lines, exact counts."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buf = sock, b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def until(self, mark: bytes) -> bytes | None:
        while mark not in self.buf:
            if not self._fill():
                return None
        head, _, self.buf = self.buf.partition(mark)
        return head + mark

    def exactly(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self._fill():
                return None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


class IppFaultProxy:
    def __init__(self, upstream: str, path: Path):
        self.upstream = upstream
        self.path = path
        self.doomed: dict[str, tuple[int, str]] = {}
        self.answered: collections.Counter[str] = collections.Counter()
        self._next: tuple[int, str] | None = None
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        os.chmod(path, 0o777)
        self._listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def server(self) -> str:
        return str(self.path)

    def doom_next(self, status: int = INTERNAL_ERROR, message: str = "test fault") -> None:
        """The next job created, and every later try of it, is answered with `status`."""
        with self._lock:
            self._next = (status, message)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _verdict(self, body: bytes) -> tuple[int, str] | None:
        if len(body) < 8 or struct.unpack(">H", body[2:4])[0] not in (CREATE_JOB, PRINT_JOB):
            return None
        name = job_name(body)
        if name is None:
            return None
        with self._lock:
            if name not in self.doomed and self._next is not None:
                self.doomed[name], self._next = self._next, None
            verdict = self.doomed.get(name)
            if verdict is not None:
                self.answered[name] += 1
        return verdict

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        write_lock = threading.Lock()
        try:
            upstream.connect(self.upstream)
        except OSError:
            client.close()
            return

        def back() -> None:
            try:
                while chunk := upstream.recv(65536):
                    with write_lock:
                        client.sendall(chunk)
            except OSError:
                pass
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=back, daemon=True).start()
        stream = _Stream(client)
        try:
            while (head := stream.until(b"\r\n\r\n")) is not None:
                fields = {k.strip().lower(): v.strip() for k, _, v in
                          (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)}
                if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
                    upstream.sendall(head)
                    if not self._relay_chunks(stream, upstream):
                        return
                    continue
                body = stream.exactly(int(fields.get(b"content-length", b"0") or 0))
                if body is None:
                    return
                verdict = self._verdict(body)
                if verdict is not None:
                    with write_lock:
                        client.sendall(ipp_answer(body, *verdict))
                    continue
                upstream.sendall(head + body)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                upstream.close()
            with contextlib.suppress(OSError):
                client.close()

    @staticmethod
    def _relay_chunks(stream: _Stream, upstream: socket.socket) -> bool:
        """Pass a chunked body on as it comes; False at end of stream."""
        while True:
            size_line = stream.until(b"\r\n")
            if size_line is None:
                return False
            upstream.sendall(size_line)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                trailer = stream.until(b"\r\n")  # no trailers from libcups: the empty line
                if trailer is None:
                    return False
                upstream.sendall(trailer)
                return True
            data = stream.exactly(size + 2)
            if data is None:
                return False
            upstream.sendall(data)
