"""Choose the span model's settings by leave-one-corpus-out (qa_assistant.tuning.span_model).

Usage: python eval/span_loco.py [--work DIR] [--output FILE] [--weights FILE]
"""

from pathlib import Path

from qa_assistant.tuning.span_model import main

if __name__ == "__main__":
    raise SystemExit(main(root=Path(__file__).resolve().parent.parent))
