"""OCR accuracy and speed, and the .doc readers compared (qa_assistant.tuning.ocr).

Usage: python eval/ocr_accuracy.py [--pages N] [--threads T] [--doc FILE]
"""

from pathlib import Path

from qa_assistant.tuning.ocr import main

if __name__ == "__main__":
    raise SystemExit(main(root=Path(__file__).resolve().parent.parent))
