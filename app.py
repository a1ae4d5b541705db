"""Serve the assistant's page: `python app.py` (settings from QA_* environment variables)."""

from qa_assistant.cli import main

if __name__ == "__main__":
    main(["serve", "--ingest"])
