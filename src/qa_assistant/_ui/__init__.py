"""The Gradio page: chat with clickable citations, filters, feedback and the staff Documents tab.

Split by job: :mod:`.rendering` turns answers, citations, documents and audit rows into HTML
and table rows; :mod:`.inputs` checks what the page sends, and :mod:`.content` what an
upload holds; :mod:`.failures` lists the files the index lacks, with why; :mod:`.handlers`
answers the page's events, each job's in a module of its own (:mod:`.chat`, :mod:`.feedback`,
:mod:`.staff` with :mod:`.audit`, :mod:`.api`); :mod:`.layout` builds the page and serves it,
with Gradio's own words in Vietnamese from :mod:`.i18n`. The look, the citation panel's script
and the page's script are package files under ``static/``.
"""

from __future__ import annotations

from .chat import Turn
from .handlers import Handlers
from .inputs import (
    ALLOWED_UPLOAD_SUFFIXES,
    make_filters,
    save_upload,
    staff_guard,
    validate_upload_name,
)
from .layout import API_NAME, DEFAULT_EXAMPLES, build_app, launch_options, serve
from .rendering import render_answer, render_citation_panel

__all__ = [
    "ALLOWED_UPLOAD_SUFFIXES",
    "API_NAME",
    "DEFAULT_EXAMPLES",
    "Handlers",
    "Turn",
    "build_app",
    "launch_options",
    "make_filters",
    "render_answer",
    "render_citation_panel",
    "save_upload",
    "serve",
    "staff_guard",
    "validate_upload_name",
]
