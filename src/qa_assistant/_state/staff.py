"""Who may use the staff Documents tab: local requests, logins, lockouts and idle sessions.

The decision is made per request from what the server saw of it, never from the address the
page is bound to: behind a reverse proxy on the same host every visitor's request arrives from
127.0.0.1, so a loopback peer alone proves nothing. A request counts as local only when its peer
is a loopback address and it carries none of the headers a proxy adds. Only then, and only while
no password is set, is the tab open without a login; with no password every other request finds
the tab off.

Uvicorn (under Gradio) already replaces the peer address of a request from 127.0.0.1 that carries
``X-Forwarded-For`` with the client the proxy saw, so :func:`client_address` is the visitor's
address behind nginx or Caddy, and failed logins are counted per visitor.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from ..errors import StaffAccessError

PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
UNKNOWN_CLIENT = "unknown"
# Bounds the memory a flood of distinct (forged or real) addresses can take.
MAX_TRACKED_CLIENTS = 10_000
MAX_SESSIONS = 1_000

StaffView = Literal["open", "login", "staff", "off"]

NOT_LOGGED_IN = "Cần đăng nhập khu vực cán bộ."
STAFF_OFF = (
    "Khu vực cán bộ đang tắt với truy cập này: chưa đặt mật khẩu quản trị. Đặt biến môi trường "
    "QA_ADMIN_PASSWORD rồi khởi động lại để bật đăng nhập."
)


class _Client(Protocol):
    host: str


class RequestLike(Protocol):
    """What Gradio's ``gr.Request`` exposes of a request and this module reads."""

    @property
    def client(self) -> _Client | None: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


def client_address(request: RequestLike | None) -> str:
    """The address the request came from (the visitor's, behind a local proxy)."""
    client = request.client if request is not None else None
    host = getattr(client, "host", None)
    return str(host) if host else UNKNOWN_CLIENT


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a name ("localhost", "testclient") is not what a socket peer looks like
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_local_request(request: RequestLike | None) -> bool:
    """True only for a request from this machine that no proxy forwarded."""
    if request is None or not _is_loopback(client_address(request)):
        return False
    # .keys(): iterating Gradio's restored request headers yields pairs, not names.
    headers = {name.lower() for name in request.headers.keys()}  # noqa: SIM118
    return not any(name in headers for name in PROXY_HEADERS)


def check_password(password: str | None, attempt: str) -> bool:
    """Compares in constant time; no password set means no attempt matches."""
    if not password:
        return False
    return hmac.compare_digest(attempt.encode("utf-8"), password.encode("utf-8"))


def minutes_until(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


class LoginLimiter:
    """Failed logins per client in a sliding window; thread-safe (handlers run in threads)."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.get(client, deque())
        while failures and now - failures[0] >= self.window_s:
            failures.popleft()
        if not failures:
            self._failures.pop(client, None)
        return failures

    def locked_for(self, client: str) -> float:
        """Seconds until ``client`` may try again; 0 when it may try now."""
        with self._lock:
            now = self._clock()
            failures = self._recent(client, now)
            if len(failures) < self.max_failures:
                return 0.0
            return failures[-self.max_failures] + self.window_s - now

    def fail(self, client: str) -> None:
        with self._lock:
            now = self._clock()
            failures = self._recent(client, now)
            if client not in self._failures and len(self._failures) >= MAX_TRACKED_CLIENTS:
                oldest = min(self._failures, key=lambda c: self._failures[c][-1])
                del self._failures[oldest]
            failures.append(now)
            self._failures[client] = failures


class StaffSessions:
    """Logged-in sessions by random token; a session unused for ``idle_s`` is gone."""

    def __init__(self, idle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle_s
        self._clock = clock
        self._last_seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._sweep(now)
            if len(self._last_seen) >= MAX_SESSIONS:
                del self._last_seen[min(self._last_seen, key=self._last_seen.__getitem__)]
            self._last_seen[token] = now
        return token

    def _sweep(self, now: float) -> None:
        for token in [t for t, seen in self._last_seen.items() if now - seen > self.idle_s]:
            del self._last_seen[token]

    def is_active(self, token: str | None) -> bool:
        with self._lock:
            seen = self._last_seen.get(token or "")
            return seen is not None and self._clock() - seen <= self.idle_s

    def touch(self, token: str | None) -> bool:
        """True if the session is live, and keeps it so; an expired one is forgotten."""
        with self._lock:
            now = self._clock()
            seen = self._last_seen.get(token or "")
            if seen is None:
                return False
            if now - seen > self.idle_s:
                del self._last_seen[token or ""]
                return False
            self._last_seen[token or ""] = now
            return True

    def end(self, token: str | None) -> None:
        with self._lock:
            self._last_seen.pop(token or "", None)


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt: a session token, or why not."""

    token: str | None
    outcome: Literal["ok", "wrong", "locked", "off"]
    message: str


class StaffGuard:
    """Decides, per request, whether staff actions are allowed, and runs the login."""

    def __init__(
        self,
        password: str | None,
        *,
        max_failures: int,
        window_s: float,
        idle_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._password = password or None
        self.limiter = LoginLimiter(max_failures, window_s, clock)
        self.sessions = StaffSessions(idle_s, clock)

    @property
    def has_password(self) -> bool:
        return self._password is not None

    def view(self, request: RequestLike | None, token: str | None) -> StaffView:
        """What the tab shows this request: open (local), staff (logged in), login, or off."""
        if self._password is None:
            return "open" if is_local_request(request) else "off"
        return "staff" if self.sessions.is_active(token) else "login"

    def authorize(self, request: RequestLike | None, token: str | None) -> None:
        """Raises :class:`StaffAccessError` unless this request may change the documents."""
        if self._password is None:
            if not is_local_request(request):
                raise StaffAccessError(STAFF_OFF)
            return
        if self.sessions.touch(token):
            return
        if token:
            raise StaffAccessError(
                f"Phiên đăng nhập đã hết hạn sau {minutes_until(self.sessions.idle_s)} phút không "
                "dùng. Hãy đăng nhập lại."
            )
        raise StaffAccessError(NOT_LOGGED_IN)

    def login(self, attempt: str, client: str) -> LoginResult:
        if self._password is None:
            return LoginResult(None, "off", STAFF_OFF)
        wait_s = self.limiter.locked_for(client)
        if wait_s > 0:
            return LoginResult(
                None,
                "locked",
                f"Đã nhập sai mật khẩu quá {self.limiter.max_failures} lần. Hãy thử lại sau "
                f"{minutes_until(wait_s)} phút.",
            )
        if check_password(self._password, attempt):
            return LoginResult(self.sessions.start(), "ok", "Đã đăng nhập khu vực cán bộ.")
        self.limiter.fail(client)
        return LoginResult(None, "wrong", "Sai mật khẩu.")


__all__ = [
    "PROXY_HEADERS",
    "LoginLimiter",
    "LoginResult",
    "RequestLike",
    "StaffGuard",
    "StaffSessions",
    "StaffView",
    "check_password",
    "client_address",
    "is_local_request",
]
