"""Choose the answer reader's settings by leave-one-corpus-out (qa_assistant.tuning.reader).

Usage: python eval/reader_loco.py [--work DIR] [--output FILE] [--weights FILE]
"""

from pathlib import Path

from qa_assistant.tuning.reader import main

if __name__ == "__main__":
    raise SystemExit(main(root=Path(__file__).resolve().parent.parent))
