"""The deploy check's staff: documents uploaded through the replicas in turn, through the page
as staff use it, and every second one deleted again through another replica."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from .._store.index import ChromaIndex
from ..drivers.page_client import PageSession
from .load import Tally
from .replicas import DeployCheckError, Replica

__all__ = ["PASSWORD", "committed_sources", "policy_text", "run_staff", "upload"]

PASSWORD = "deploy-check"  # staff log in through the page, as behind a proxy
_COMMUNES = ("Hòa Bình", "An Lạc", "Tân Phú", "Phú Hải", "Đông Xá", "Quảng Tân", "Bình Minh")


def policy_text(n: int, articles: int = 3) -> tuple[str, str]:
    """A small decree of a commune, with one fact a citizen can ask about; and that question."""
    commune = f"{_COMMUNES[n % len(_COMMUNES)]} {n}"
    amount = 3 + n
    body = [
        f"Quyết định của Ủy ban nhân dân xã {commune} về hỗ trợ hộ nghèo năm 2026",
        f"Điều 1. Ủy ban nhân dân xã {commune} hỗ trợ {amount} triệu đồng cho mỗi hộ nghèo "
        "để sửa chữa nhà ở trước mùa mưa bão.",
    ]
    body += [
        f"Điều {i}. Các thôn của xã {commune} lập danh sách hộ được hỗ trợ đợt {i}, niêm yết "
        f"công khai tại nhà văn hoá trong {i + 4} ngày và gửi về xã trước ngày {i % 28 + 1}."
        for i in range(2, articles + 2)
    ]
    return "\n\n".join(body) + "\n", f"Xã {commune} hỗ trợ mỗi hộ nghèo bao nhiêu tiền để sửa nhà?"


def committed_sources(index: ChromaIndex) -> set[str]:
    return {d.source for d in index.documents()}


def _staff_session(replica: Replica) -> PageSession:
    page = PageSession(replica.url)
    page.load([None])
    if not page.trigger("qa-login", "click", [PASSWORD]).success:
        page.close()
        raise DeployCheckError(f"Staff login failed on replica {replica.number}.")
    return page


def upload(replica: Replica, path: Path) -> bool:
    with _staff_session(replica) as page:
        return page.trigger("qa-upload-btn", "click", [page.upload_files(path), None]).success


def _delete(replica: Replica, source: str) -> bool:
    with _staff_session(replica) as page:
        return page.trigger("qa-delete", "click", [source, None]).success


def _staff_action(
    replicas: Sequence[Replica],
    first: int,
    what: str,
    act: Callable[[Replica], bool],
    done: Callable[[], bool],
    tally: Tally,
) -> bool:
    """Runs a staff action on replica ``first``, on the next one if it cannot be reached.

    As behind a proxy: an action whose replica dies under it may or may not have happened, so
    the store is asked before the next replica tries again.
    """
    for i in range(len(replicas)):
        replica = replicas[(first + i) % len(replicas)]
        try:
            acted = act(replica)
        except httpx.TransportError:
            with tally.lock:
                tally.failovers += 1
            if done():
                return True
            continue
        except DeployCheckError as exc:
            tally.error(f"staff {what} on replica {replica.number}: {exc}")
            return False
        if acted and done():
            return True
        tally.error(f"staff {what} on replica {replica.number} was not committed")
        return False
    tally.error(f"staff {what}: no replica could be reached")
    return False


def run_staff(
    replicas: Sequence[Replica],
    staging: Path,
    uploads: int,
    store: ChromaIndex,
    tally: Tally,
    stop: float,
) -> None:
    for n in range(uploads):
        if time.monotonic() > stop:
            tally.error("staff: the load's deadline passed before all uploads")
            return
        _staff_round(replicas, staging, n, store, tally)


def _staff_round(
    replicas: Sequence[Replica], staging: Path, n: int, store: ChromaIndex, tally: Tally
) -> None:
    """Upload document ``n``; every second one leaves again, through another replica."""
    text, _ = policy_text(n)
    path = staging / f"xa-{n}-ho-tro-sua-nha.txt"
    path.write_text(text, encoding="utf-8")
    if not _staff_action(
        replicas,
        n,
        f"upload {path.name}",
        lambda r: upload(r, path),
        lambda: path.name in committed_sources(store),
        tally,
    ):
        return
    with tally.lock:
        tally.uploads += 1
    if n % 2 == 1 and _staff_action(
        replicas,
        n + 1,
        f"delete {path.name}",
        lambda r: _delete(r, path.name),
        lambda: path.name not in committed_sources(store),
        tally,
    ):
        with tally.lock:
            tally.deletes += 1
