"""The page's event handlers, one object per app: each job's handlers in a module of its own
(:mod:`.chat`, :mod:`.feedback`, :mod:`.staff` with :mod:`.audit`, :mod:`.api`), bound here to
one assistant and its settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..settings import Settings
from .api import ApiHandlers
from .chat import ChatHandlers
from .feedback import FeedbackHandlers
from .inputs import staff_guard
from .staff import StaffHandlers

if TYPE_CHECKING:
    from ..assistant import Assistant

__all__ = ["Handlers"]


class Handlers(ChatHandlers, FeedbackHandlers, StaffHandlers, ApiHandlers):
    """The event handlers, bound to one assistant and its settings (one per app)."""

    def __init__(self, assistant: Assistant, settings: Settings) -> None:
        self.assistant = assistant
        self.settings = settings
        self.guard = staff_guard(settings)
