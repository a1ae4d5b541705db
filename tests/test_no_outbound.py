"""Nothing leaves the machine, seen from the kernel's side: the real ``qa-assistant ingest``,
``ask`` and ``serve`` run under strace with a fresh HOME.

The network guard of tests/test_security.py sees only Python's sockets; native code (ONNX
Runtime's telemetry client, written in C++) goes around it. strace sees every process's
``connect``, ``sendto`` and ``sendmsg``, whoever makes them. A name lookup counts as leaving:
it tells the resolver (and whoever it asks) which host the process wanted.

Without strace the test skips, except under CI=true, where that is a failure
(scripts/install-strace.sh installs it).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import TET_QUESTION
from qa_assistant._models.build import default_model_dir
from qa_assistant.settings import default_cache_dir

CLI = Path(sys.executable).with_name("qa-assistant")
PROJECT_CACHE = Path(".cache") / "qa-assistant"  # under HOME: where the settings put it

# The telemetry switches a shell may have exported: the test unsets them, so the project has to
# turn every one off by itself.
TELEMETRY_VARIABLES = (
    "ORT_DISABLE_TELEMETRY",
    "ANONYMIZED_TELEMETRY",
    "GRADIO_ANALYTICS_ENABLED",
    "HF_HUB_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
)

# The local services that resolve names for a process: glibc asks nscd when it runs, then
# systemd-resolved (its varlink socket or, through D-Bus, resolve1), then mDNS through Avahi.
NAME_SERVICE_SOCKETS = (
    "/var/run/nscd/",
    "/run/nscd/",
    "/run/systemd/resolve/",
    "/var/run/dbus/system_bus_socket",
    "/run/dbus/system_bus_socket",
    "/var/run/avahi-daemon/",
    "/run/avahi-daemon/",
)

_SYSCALL = re.compile(r"^(?:\[pid\s+)?\d+\]?\s+(connect|sendto|sendmsg)\(")
_INET = re.compile(
    r"sa_family=AF_INET6?, sin6?_port=htons\((?P<port>\d+)\), "
    r'(?:sin_addr=inet_addr\("(?P<v4>[^"]+)"\)|.*?inet_pton\(AF_INET6, "(?P<v6>[^"]+)")'
)
_UNIX = re.compile(r'sa_family=AF_UNIX, sun_path=@?"(?P<path>[^"]*)"')


def _require_strace() -> str:
    strace = shutil.which("strace")
    if strace is not None:
        return strace
    reason = "strace is missing: run scripts/install-strace.sh (apt-get install strace, as root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def outbound(trace: str) -> list[str]:
    """The calls of a strace log that reach past the machine or ask for a name."""
    found = []
    for line in trace.splitlines():
        if not _SYSCALL.match(line):
            continue
        for inet in _INET.finditer(line):
            address = inet["v4"] or inet["v6"]
            if inet["port"] == "53" or not _is_loopback(address):
                found.append(line)
        for unix in _UNIX.finditer(line):
            if unix["path"].startswith(NAME_SERVICE_SOCKETS):
                found.append(line)
    return found


def test_the_trace_reader_finds_lookups_and_outside_connections() -> None:
    # Lines as strace 6 writes them, from a run before telemetry was switched off.
    leaving = [
        "7412  connect(21, {sa_family=AF_INET, sin_port=htons(53), "
        'sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
        '81  sendto(3, "x", 1, 0, {sa_family=AF_INET, sin_port=htons(443), '
        'sin_addr=inet_addr("13.107.5.88")}, 16) = 1',
        '9  connect(8, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) '
        "= -1 ENOENT (No such file or directory)",
        "9  connect(4, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "2620:1ec:c11::200", &sin6_addr), sin6_scope_id=0}, 28 '
        "<unfinished ...>",
        "9  sendmsg(5, {msg_name={sa_family=AF_INET6, sin6_port=htons(53), "
        'sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, '
        "msg_namelen=28}, 0) = 30",
    ]
    staying = [
        "9  connect(7, {sa_family=AF_INET, sin_port=htons(7860), "
        'sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        "9  connect(7, {sa_family=AF_INET6, sin6_port=htons(7860), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '9  connect(17, {sa_family=AF_UNIX, sun_path="/run/uuidd/request"}, 110) '
        "= -1 ENOENT (No such file or directory)",
        "9  sendto(3, [{nlmsg_len=20, nlmsg_type=RTM_GETADDR}, {ifa_family=AF_UNSPEC}], 20, 0, "
        "{sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 20",
        "9  <... connect resumed>) = 0",
    ]
    assert outbound("\n".join(leaving)) == leaving
    assert outbound("\n".join(staying)) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fresh_home_env(home: Path, docs_dir: Path, index_dir: Path) -> dict[str, str]:
    """The test's environment with a new HOME and the default settings, except the documents,
    the index and the two models conftest leaves off: they run on the same ONNX Runtime as the
    embedder, so they would add their build time, not another way out."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QA_", "XDG_")) and k not in TELEMETRY_VARIABLES
    }
    env.update(
        HOME=str(home),
        QA_DOCUMENTS_DIR=str(docs_dir),
        QA_INDEX_DIR=str(index_dir),
        QA_RELEVANCE__ENABLED="false",
        QA_SPAN__ENABLED="false",
    )
    return env


def _traced(strace: str, log: Path, *args: str) -> list[str]:
    return [strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(log), *args]


def _serve_until_it_answers(command: list[str], env: dict[str, str], url: str) -> None:
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.communicate()[0][-2000:]
            assert time.monotonic() < deadline, "serve did not answer within 90 s"
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
    finally:
        # The whole group: strace and the server it traces stop together.
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.mark.integration
@pytest.mark.slow
def test_ingest_ask_and_serve_send_nothing_and_write_only_their_cache(
    tmp_path: Path, docs_dir: Path
) -> None:
    strace = _require_strace()
    home = tmp_path / "home"
    (home / PROJECT_CACHE).parent.mkdir(parents=True)
    user_cache = default_cache_dir()
    if (default_model_dir(user_cache) / "build-info.json").is_file():
        # The models built once already, at the place a first run in this HOME would put them.
        (home / PROJECT_CACHE).symlink_to(user_cache, target_is_directory=True)
    env = _fresh_home_env(home, docs_dir, tmp_path / "index")

    traces = {name: tmp_path / f"{name}.strace" for name in ("ingest", "ask", "serve")}
    ingest = subprocess.run(
        _traced(strace, traces["ingest"], str(CLI), "ingest", "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    ask = subprocess.run(
        _traced(strace, traces["ask"], str(CLI), "ask", TET_QUESTION),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ask.returncode == 0, ask.stderr[-2000:]
    port = _free_port()
    _serve_until_it_answers(
        _traced(strace, traces["serve"], str(CLI), "serve", "--port", str(port)),
        env,
        f"http://127.0.0.1:{port}/",
    )

    for name, trace in traces.items():
        assert outbound(trace.read_text(errors="replace")) == [], f"{name} reached out"
    written = sorted(
        str(path.relative_to(home))
        for path in home.rglob("*")
        if not path.is_dir() and not path.is_relative_to(home / PROJECT_CACHE)
    )
    assert written == [], f"files written outside the project's cache: {written}"
