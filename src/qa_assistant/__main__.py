"""``python -m qa_assistant …`` runs the command line, as the ``qa-assistant`` command does."""

from .cli import main

__all__: list[str] = []

main()
