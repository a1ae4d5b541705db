"""The page in a real browser: ask, read citations, rate, and manage documents.

Drives Debian's Chromium (``scripts/install-browser.sh``) through Playwright against the app
served on a free loopback port, with the seed documents and the fake embedder. Skipped when
Chromium is missing, except under CI=true where a missing browser is a failure.

Run: ``.venv/bin/python -m pytest -m browser tests/browser``. Set QA_UPDATE_SCREENSHOT=1 to
refresh docs/screenshot.png and docs/screenshot-phone.png from the answered page.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from qa_assistant import _ui as ui
from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = ROOT / "test-output"
PASSWORD = "mật-khẩu-thử"
TET_QUESTION = "Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?"
EVIL_DOCUMENT = (
    "Thông báo thử nghiệm về lễ hội đèn lồng\n\n"
    "Lễ hội đèn lồng <script>window.__pwned = 1</script> được tổ chức "
    '<img src="x" onerror="window.__pwned = 2"> vào rằm tháng Giêng tại nhà văn hóa.\n'
)
NEW_DOCUMENT = (
    "Quy định về thư viện cộng đồng\n\n"
    "Thư viện cộng đồng của xã mở cửa từ 7 giờ đến 21 giờ tất cả các ngày trong tuần.\n"
)
TIMEOUT_MS = 30_000
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1400, "height": 560}
# Gradio's own English as it shows (or is read out) when left untranslated: its upload box,
# footer, toast titles, status announcements, a label-less box's name, and raw i18n keys.
GRADIO_ENGLISH = re.compile(
    r"Drop File Here|Click to Upload|- or -|Use via API|Built with Gradio|Uploading|"
    r"\b(Info|Warning|Error|Success|Loading|Complete|Textbox|Clear|Copy message)\b|"
    r"\b(common|upload_text|errors|chatbot|file|status|blocks)\.[a-z_]+"
)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: run scripts/install-browser.sh (needs root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str, settings: Settings, assistant: Assistant) -> None:
        self.url = url
        self.settings = settings
        self.assistant = assistant

    def feedback_rows(self) -> list[tuple[Any, ...]]:
        db = self.settings.index_dir / "feedback.sqlite3"
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "SELECT rating, comment, question, citations FROM feedback"
            ).fetchall()


def _serve(base: Path, password: str | None) -> Iterator[Server]:
    documents = base / "documents"
    documents.mkdir()
    for path in sorted((ROOT / "documents").glob("*.txt")):
        shutil.copy(path, documents)
    (documents / "le-hoi-den-long.txt").write_text(EVIL_DOCUMENT, encoding="utf-8")
    settings = Settings(
        documents_dir=documents,
        index_dir=base / "index",
        cache_dir=base / "cache",
        host="127.0.0.1",
        port=_free_port(),
        admin_password=SecretStr(password) if password else None,
        _env_file=None,  # type: ignore[call-arg]
    )
    assistant = Assistant(settings, embedder=FakeEmbedder())
    assert assistant.ingest().failed == ()
    app, url = ui.serve(assistant, settings, block=False)
    try:
        yield Server(url, settings, assistant)
    finally:
        app.close()
        assistant.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _require_chromium()
    yield from _serve(tmp_path_factory.mktemp("browser"), PASSWORD)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Bound to 127.0.0.1 without a password: the setup a same-host reverse proxy fronts."""
    _require_chromium()
    yield from _serve(tmp_path_factory.mktemp("browser-open"), None)


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="vi-VN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []

    def note_request(request: Any) -> None:
        if not request.url.startswith((server.url, "data:", "blob:")):
            outside.append(request.url)

    page.on("request", note_request)
    page.goto(server.url)
    page.wait_for_selector("#qa-question textarea")
    yield page
    context.close()
    # The page must work on a LAN without internet: no fonts, CDNs or telemetry.
    assert outside == []


@pytest.fixture
def phone(browser: Any, server: Server) -> Iterator[Any]:
    """The page on a phone's screen (390x844, touch, twice the pixels)."""
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="vi-VN"
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    page.wait_for_selector("#qa-question textarea")
    yield page
    context.close()


def _ask(page: Any, question: str) -> Any:
    answers = page.locator("#qa-chat .qa-answer.qa-final")
    before = answers.count()
    page.fill("#qa-question textarea", question)
    page.click("#qa-send")
    answer = answers.nth(before)
    answer.wait_for()  # qa-final marks the last streamed step
    return answer


def test_ask_read_citation_and_give_feedback(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    _opens_at_the_top(page)
    # Where there is a keyboard, the question box takes it without moving the page.
    assert page.evaluate("document.activeElement.closest('#qa-question') !== null")
    answer = _ask(page, TET_QUESTION)
    assert "10 triệu" in answer.inner_text()
    citations = answer.locator("a.qa-cite")
    assert citations.count() >= 1

    # On a laptop's shorter screen the panel's full text starts below the fold: the click
    # must bring the quoted sentence on screen.
    page.set_viewport_size(LAPTOP)
    citations.first.click()
    panel = page.locator("#qa-citation .qa-panel[data-marker]")
    panel.wait_for()
    quote = panel.locator("mark.qa-quote")
    assert quote.count() == 1 and quote.inner_text().strip()
    doc_mark = panel.locator("mark.qa-doc-mark")
    assert doc_mark.inner_text() == quote.inner_text()
    expect(doc_mark).to_be_in_viewport()
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.evaluate("window.scrollTo(0, 0)")

    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "answered.png"), full_page=True)
    if os.environ.get("QA_UPDATE_SCREENSHOT") == "1":
        shutil.copy(OUTPUT / "answered.png", ROOT / "docs" / "screenshot.png")

    _ask(page, "Năm 2025 Quảng Ninh sửa chữa nhà ở cho bao nhiêu hộ nghèo?")
    follow = _ask(page, "Còn hộ cận nghèo thì sao?")
    assert follow.inner_text().strip()

    _chat_label_stays_above_the_messages(page)

    page.locator("#qa-chat button[aria-label='Dislike']").first.click()
    page.locator("#qa-comment textarea").fill("Cần nói rõ nguồn kinh phí.")
    page.click("#qa-comment-send")
    page.wait_for_selector("#qa-comment textarea", state="hidden")
    _speaks_vietnamese(page)  # with the toasts of the rating and the comment up
    rows = server.feedback_rows()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("down", "Cần nói rõ nguồn kinh phí.", TET_QUESTION)
    ]
    assert "10 triệu" in rows[0][3]


def test_document_markup_is_shown_as_text(page: Any) -> None:
    answer = _ask(page, "Lễ hội đèn lồng được tổ chức ở đâu vào rằm tháng Giêng?")
    page.wait_for_timeout(300)
    cites = answer.locator("a.qa-cite")
    if cites.count():
        cites.first.click()
        page.locator("#qa-citation .qa-panel[data-marker]").wait_for()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#qa-citation img, #qa-chat img[src='x']").count() == 0
    # The document's markup reached the page as visible text, not as elements.
    assert "<script>" in page.locator("#qa-citation").inner_text()


def test_staff_upload_ask_and_delete(page: Any, server: Server) -> None:
    page.get_by_role("tab", name="Tài liệu (cán bộ)").click()
    page.fill("#qa-password input", "sai")
    page.click("#qa-login")
    # A click while the last login is still pending is dropped: wait for its answer.
    page.get_by_text("Sai mật khẩu.").first.wait_for()
    assert not page.locator("#qa-upload-btn").is_visible()
    page.fill("#qa-password input", PASSWORD)
    page.click("#qa-login")
    page.locator("#qa-upload-btn").wait_for(state="visible")
    assert page.locator("#qa-documents").inner_text().count(".txt") >= 3
    # The login's updates end with the log: a file picked before then can land on an input
    # that is about to be re-rendered (seen on a cold, loaded machine).
    _wait_for_text(page.locator("#qa-audit"), "Đăng nhập")

    _speaks_vietnamese(page)  # the upload box's own words included

    _upload_new_document(page, server.settings.documents_dir)
    page.locator("#qa-documents").get_by_text("thu-vien-cong-dong.txt").wait_for()
    _refused_upload_fits_the_log(page)

    page.get_by_role("tab", name="Hỏi đáp").click()
    answer = _ask(page, "Thư viện cộng đồng của xã mở cửa từ mấy giờ?")
    assert "7 giờ" in answer.inner_text()
    answer.locator("a.qa-cite").first.click()
    page.locator("#qa-citation").get_by_text("thu-vien-cong-dong.txt").first.wait_for()

    page.get_by_role("tab", name="Tài liệu (cán bộ)").click()
    page.click("#qa-delete-choice input")
    page.get_by_role("option", name="thu-vien-cong-dong.txt").first.click()
    page.click("#qa-delete")
    page.locator("#qa-staff-status").get_by_text("Đã xoá").wait_for()
    sources = [d.source for d in server.assistant.documents()]
    assert "thu-vien-cong-dong.txt" not in sources
    assert not (server.settings.documents_dir / "thu-vien-cong-dong.txt").exists()

    audit = page.locator("#qa-audit")
    _wait_for_text(audit, "thu-vien-cong-dong.txt")  # the delete, newest first
    assert "sai mật khẩu" in audit.inner_text() and "Đăng nhập" in audit.inner_text()
    _screenshots(page, "staff-logged-in")


def test_on_a_phone_the_answer_stays_in_view_and_its_sources_open_on_tap(phone: Any) -> None:
    from playwright.sync_api import expect

    _opens_at_the_top(phone)
    expect(phone.locator("#qa-header h1")).to_be_in_viewport()
    example = phone.locator("#qa-chat button.example").first
    expect(example).to_be_in_viewport()
    looks = example.evaluate(
        "e => { const s = getComputedStyle(e);"
        " return [parseFloat(s.borderTopWidth), s.borderTopStyle, s.cursor]; }"
    )
    assert looks[0] >= 1 and looks[1] != "none" and looks[2] == "pointer", looks
    _speaks_vietnamese(phone)

    answer = _ask(phone, TET_QUESTION)
    panel = phone.locator("#qa-citation .qa-panel[data-marker]")
    panel.wait_for()  # the first citation opened below the chat...
    phone.wait_for_timeout(800)  # ...and any scroll it set off has ended
    text = answer.locator("p").first
    assert "10 triệu" in answer.inner_text()
    assert _in_viewport(text), "asking scrolled the answer out of view"
    _no_sideways_scroll(phone)
    OUTPUT.mkdir(exist_ok=True)
    phone.screenshot(path=str(OUTPUT / "phone-answered.png"))
    if os.environ.get("QA_UPDATE_SCREENSHOT") == "1":
        shutil.copy(OUTPUT / "phone-answered.png", ROOT / "docs" / "screenshot-phone.png")

    answer.locator("a.qa-cite").first.tap()
    expect(panel.locator(".qa-passage")).to_be_in_viewport()
    expect(text).not_to_be_in_viewport()
    back = panel.locator("button.qa-back")
    expect(back).to_be_in_viewport()
    assert "Quay lại câu trả lời" in back.inner_text()
    phone.screenshot(path=str(OUTPUT / "phone-citation.png"))

    back.tap()
    expect(text).to_be_in_viewport()

    # Another answer's marker opens its own passage the same way.
    second = _ask(phone, "Năm 2025 Quảng Ninh sửa chữa nhà ở cho bao nhiêu hộ nghèo?")
    phone.wait_for_timeout(800)
    assert _in_viewport(second.locator("p").first)
    second.locator("a.qa-cite").last.tap()
    expect(phone.locator("#qa-citation .qa-panel[data-turn='1'] .qa-passage")).to_be_in_viewport()

    phone.get_by_role("tab", name="Tài liệu (cán bộ)").click()
    phone.fill("#qa-password input", PASSWORD)
    phone.click("#qa-login")
    _wait_for_text(phone.locator("#qa-audit"), "Đăng nhập")
    phone.locator("#qa-documents").wait_for(state="visible")
    _no_sideways_scroll(phone)
    _apart(phone, "#qa-upload label[data-testid='block-label']", "#qa-upload .icon-wrap")
    phone.screenshot(path=str(OUTPUT / "phone-staff.png"), full_page=True)


def _opens_at_the_top(page: Any) -> None:
    # Long enough for Gradio's mount and any autofocus to have moved the page.
    page.wait_for_timeout(1000)
    assert page.evaluate("window.scrollY") == 0


def _chat_label_stays_above_the_messages(page: Any) -> None:
    """The chat's label ("Hội thoại") never lies over a message, however the chat scrolls."""
    page.evaluate("document.querySelector('#qa-chat .bubble-wrap').scrollTop = 120")
    label = page.locator("#qa-chat label[data-testid='block-label']").bounding_box()
    messages = page.locator("#qa-chat .bubble-wrap").bounding_box()
    assert label is not None and messages is not None
    assert label["y"] + label["height"] <= messages["y"] + 1, (label, messages)


def _speaks_vietnamese(page: Any) -> None:
    """What a visitor sees or hears read out: none of Gradio's English, no glyph the fonts lack."""
    text = page.evaluate("document.body.innerText")
    english = sorted({m.group(0) for m in GRADIO_ENGLISH.finditer(text)})
    assert english == [], f"Gradio's English on the page: {english}"
    missing = [c for c in _unusual_characters(text) if not _font_has(c)]
    assert missing == [], f"no installed font draws {[f'U+{ord(c):04X}' for c in missing]}"


def _unusual_characters(text: str) -> list[str]:
    # Vietnamese letters and common punctuation are in every font the page names; the rest
    # (symbols, dingbats, emoji) is checked one by one. Variation selectors draw nothing.
    return sorted(
        {c for c in text if ord(c) >= 0x2000 and not 0xFE00 <= ord(c) <= 0xFE0F}
        - set("\u200b\u200c\u200d\u2013\u2014\u2018\u2019\u201c\u201d\u2026")
    )


def _font_has(char: str) -> bool:
    if shutil.which("fc-list") is None:
        pytest.skip("fc-list (fontconfig, a dependency of Chromium) is missing")
    found = subprocess.run(
        ["fc-list", f":charset={ord(char):x}", "family"],
        capture_output=True,
        text=True,
        check=True,
    )
    return bool(found.stdout.strip())


def _refused_upload_fits_the_log(page: Any) -> None:
    """A refused upload's long reason (in the status and the log) keeps every log column in
    its panel, and the status says it in words the fonts draw."""
    from playwright.sync_api import expect

    OUTPUT.mkdir(exist_ok=True)
    binary = OUTPUT / "khong-phai-van-ban.txt"
    binary.write_bytes(b"\x00\x01\x02\xff" * 200)
    page.set_input_files("#qa-upload input[type=file]", str(binary))
    page.locator("#qa-upload").get_by_text("khong-phai-van-ban").first.wait_for()
    # The box's buttons (pick again, empty) appear with a file: none lies over its label.
    _apart(page, "#qa-upload label[data-testid='block-label']", "#qa-upload .icon-button-wrapper")
    page.click("#qa-upload-btn")
    _wait_for_text(page.locator("#qa-audit"), "khong-phai-van-ban.txt")
    expect(page.locator("#qa-upload")).not_to_contain_text("khong-phai-van-ban")
    edges = page.evaluate(
        "(() => { const table = document.querySelector('#qa-audit .table-container');"
        " const heads = [...document.querySelectorAll('#qa-audit thead th')];"
        " return [table.getBoundingClientRect().right,"
        " Math.max(...heads.map(h => h.getBoundingClientRect().right))]; })()"
    )
    assert edges[1] <= edges[0] + 1, f"the log's last column ends past its panel: {edges}"
    _speaks_vietnamese(page)


def _apart(page: Any, first: str, second: str) -> None:
    a = page.locator(first).bounding_box()
    b = page.locator(second).bounding_box()
    assert a is not None and b is not None
    overlap_x = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    overlap_y = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    assert overlap_x <= 1 or overlap_y <= 1, f"{first} {a} lies over {second} {b}"


def _in_viewport(locator: Any) -> bool:
    box = locator.bounding_box()
    height = locator.page.viewport_size["height"]
    # Its first line: the top (to the pixel) and 40 px of it on the screen.
    return box is not None and box["y"] >= -1 and box["y"] + min(box["height"], 40) <= height


def _no_sideways_scroll(page: Any) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def _upload_new_document(page: Any, documents_dir: Path) -> None:
    """Uploads NEW_DOCUMENT through the staff tab and waits until it is ingested and saved."""
    from playwright.sync_api import expect

    upload = OUTPUT / "thu-vien-cong-dong.txt"
    OUTPUT.mkdir(exist_ok=True)
    upload.write_text(NEW_DOCUMENT, encoding="utf-8")
    page.set_input_files("#qa-upload input[type=file]", str(upload))
    page.locator("#qa-upload").get_by_text("thu-vien-cong-dong.txt").first.wait_for()
    page.click("#qa-upload-btn")
    page.locator("#qa-staff-status").get_by_text("Đã nạp").wait_for()
    assert (documents_dir / "thu-vien-cong-dong.txt").is_file()
    # The box empties once the upload went through, ready for the next one.
    expect(page.locator("#qa-upload")).not_to_contain_text("thu-vien-cong-dong.txt")


def _wait_for_text(locator: Any, text: str) -> None:
    # Tables keep hidden copies of their cells, so waiting for a visible cell can time out.
    from playwright.sync_api import expect

    expect(locator).to_contain_text(text, timeout=TIMEOUT_MS)


def _screenshots(page: Any, name: str) -> None:
    """Desktop and phone (390x844) shots of the Documents tab, to look at its state."""
    OUTPUT.mkdir(exist_ok=True)
    size = page.viewport_size
    page.screenshot(path=str(OUTPUT / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    page.screenshot(path=str(OUTPUT / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(size)


def _documents_tab(browser: Any, server: Server, headers: dict[str, str]) -> Any:
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, locale="vi-VN", extra_http_headers=headers
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    page.get_by_role("tab", name="Tài liệu (cán bộ)").click()
    return page


def test_a_proxied_browser_finds_the_staff_tab_off_and_a_local_one_open(
    browser: Any, open_server: Server
) -> None:
    # Every request of this browser carries the header a reverse proxy adds.
    proxied = _documents_tab(browser, open_server, {"X-Forwarded-For": "203.0.113.9"})
    try:
        off = proxied.locator("#qa-staff-disabled")
        off.wait_for(state="visible")
        assert "QA_ADMIN_PASSWORD" in off.inner_text()
        assert not proxied.locator("#qa-upload-btn").is_visible()
        assert not proxied.locator("#qa-password input").is_visible()
        assert (
            proxied.locator("#qa-audit").count() == 0
            or not proxied.locator("#qa-audit").is_visible()
        )
        _screenshots(proxied, "staff-off-behind-proxy")
    finally:
        proxied.context.close()

    local = _documents_tab(browser, open_server, {})
    try:
        local.locator("#qa-staff-open").wait_for(state="visible")
        assert not local.locator("#qa-staff-disabled").is_visible()
        _upload_new_document(local, open_server.settings.documents_dir)
        audit = local.locator("#qa-audit")
        _wait_for_text(audit, "thu-vien-cong-dong.txt")
        assert "Tải lên" in audit.inner_text() and "127.0.0.1" in audit.inner_text()
        _screenshots(local, "staff-open-locally")
    finally:
        local.context.close()
