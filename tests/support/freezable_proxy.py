"""A TCP proxy on loopback that can be frozen: a database that stops answering, for this test only.

While frozen it still accepts connections and the kernel still acknowledges what clients send (as a
stopped PostgreSQL does), but nothing is forwarded either way; `resume()` lets the bytes flow again.
The machine's shared PostgreSQL is never stopped.

    with FreezableProxy("127.0.0.1", 5432) as proxy:   # postgresql://...@127.0.0.1:{proxy.port}/db
        proxy.freeze(); ...; proxy.resume()
"""
from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class FreezableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self._flowing.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)

    def __enter__(self) -> FreezableProxy:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(self._track(client),), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._flowing.wait()  # frozen: accepted, but the server is not even reached
        try:
            upstream = self._track(socket.create_connection(self._target, timeout=5))
            upstream.settimeout(None)
        except OSError:
            _close(client)
            return
        threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self._flowing.wait()  # frozen: received (acknowledged) but held
                target.sendall(data)
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
