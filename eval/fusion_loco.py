"""Choose the hybrid's fusion settings by leave-one-corpus-out (qa_assistant.tuning.fusion).

Usage: python eval/fusion_loco.py [--work DIR] [--output FILE] [--table FILE] [--weights FILE]
"""

from pathlib import Path

from qa_assistant.tuning.fusion import main

if __name__ == "__main__":
    raise SystemExit(main(root=Path(__file__).resolve().parent.parent))
