"""`cvat-bridge serve` in a subprocess (its memory can be measured), and raw HTTP requests whose bodies are
streamed from a generator, so a test can send hundreds of MB without holding them."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import API_TOKEN
from tests.standins import free_port


@dataclass
class ServeProcess:
    process: subprocess.Popen
    url: str
    port: int

    def rss_bytes(self) -> int:
        return _status_kb(self.process.pid, "VmRSS") * 1024

    def reset_peak(self) -> None:
        """Start measuring the peak RSS afresh (``peak_rss_bytes``)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def peak_rss_bytes(self) -> int:
        return _status_kb(self.process.pid, "VmHWM") * 1024


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


@contextmanager
def serve(data_dir: Path, **environment: str) -> Iterator[ServeProcess]:
    """`python -m cvat_bridge serve` on a free port, with the test API token; stopped afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "CVAT_BRIDGE_DATA_DIR": str(data_dir),
        "CVAT_BRIDGE_API_TOKEN": API_TOKEN,
        **environment,
    }
    command = [sys.executable, "-m", "cvat_bridge", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "cvat-bridge serve did not start"
            time.sleep(0.1)
        yield ServeProcess(process, url, port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class RawAnswer:
    status: int
    head: str
    body: bytes
    sent: int  # body bytes the server took before it answered


def raw_request(
    port: int, method: str, path: str, headers: dict[str, str], body: Iterable[bytes], *, chunked: bool
) -> RawAnswer:
    """Send a request whose body comes from ``body`` (with Transfer-Encoding: chunked, or the Content-Length
    given in ``headers``), stop sending as soon as the server answers or closes, and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sent = 0
        try:
            for chunk in body:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered (or closed) before taking the whole body
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
                sent += len(chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
                if b"\r\n\r\n" in answer and _complete(answer):
                    break
        except ConnectionResetError:
            pass
    head, _, content = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return RawAnswer(status, head.decode("latin-1"), content, sent)


def _complete(answer: bytes) -> bool:
    head, _, content = answer.partition(b"\r\n\r\n")
    for line in head.decode("latin-1").split("\r\n"):
        if line.lower().startswith("content-length:"):
            return len(content) >= int(line.split(":", 1)[1])
    return False


def zeros(total: int, chunk: int = 1024**2) -> Iterator[bytes]:
    """``total`` bytes in chunks, generated as they are sent."""
    block = b"0" * chunk
    for start in range(0, total, chunk):
        yield block[: min(chunk, total - start)]
