"""Gradio's own words on the page (upload box, footer, chat buttons, status), in Vietnamese.

Gradio ships no Vietnamese, and picks the browser's language only among those it ships: a
Vietnamese browser gets its English. So the words are registered for ``en`` (every browser
whose language Gradio lacks) as well as ``vi``. The keys are written whole ("common.or"):
Gradio's lookup tries a whole key before walking its own nested dictionary, so these win over
its English. The toast titles ("Info", "Warning") are not among its keys: ``static/page.js``
renames them.
"""

from __future__ import annotations

import gradio as gr

__all__ = ["GRADIO_STRINGS", "I18N"]

GRADIO_STRINGS: dict[str, str] = {
    # The upload box: "Drop File Here – or – Click to Upload".
    "upload_text.drop_file": "Kéo thả tệp vào đây",
    "upload_text.click_to_upload": "Bấm để chọn tệp",
    "common.or": "hoặc",
    "file.uploading": "Đang tải lên…",
    "common.upload": "Tải lên",
    "common.clear": "Xoá",
    "common.remove": "Bỏ",
    "common.download": "Tải xuống",
    "common.empty": "Trống",
    "common.edit": "Sửa",
    "common.undo": "Hoàn tác",
    "common.submit": "Gửi",
    "common.settings": "Cài đặt",
    "common.built_with_gradio": "Làm bằng Gradio",
    # The footer's link to the API page.
    "errors.use_via_api": "Dùng qua API",
    "errors.use_via_api_or_mcp": "Dùng qua API",
    # What the status line says to screen readers ("common.complete" is missing from Gradio's
    # own dictionary, so without this the raw key is read out).
    "common.loading": "Đang xử lý",
    "common.complete": "Xong",
    "common.error": "Lỗi",
    "status.queue_position": "Đang xếp hàng: {position}/{size}",
    # The chat's buttons.
    "chatbot.copy_message": "Sao chép",
    "chatbot.copied_message": "Đã sao chép",
    "chatbot.clear": "Xoá cuộc hội thoại",
    "chatbot.retry": "Thử lại",
    "chatbot.undo": "Hoàn tác",
    "chatbot.edit": "Sửa",
    "chatbot.submit": "Gửi",
    "chatbot.cancel": "Huỷ",
    # The tables' menus.
    "dataframe.sort_column": "Sắp xếp cột",
    "dataframe.sort_ascending": "Sắp xếp tăng dần",
    "dataframe.sort_descending": "Sắp xếp giảm dần",
    # The connection's notices.
    "blocks.lost_connection": "Mất kết nối vì đã rời trang. Đang vào lại hàng đợi…",
    "blocks.waiting_for_inputs": "Tệp chưa tải lên xong, hãy thử lại sau giây lát.",
    "blocks.connection_can_break": (
        "Trên điện thoại, kết nối có thể mất khi chuyển sang thẻ khác hoặc màn hình tắt; "
        "khi đó câu hỏi phải xếp hàng lại."
    ),
    "blocks.long_requests_queue": "Đang có nhiều câu hỏi chờ. Hãy đợi trong giây lát.",
}

I18N = gr.I18n(en=GRADIO_STRINGS, vi=GRADIO_STRINGS)
