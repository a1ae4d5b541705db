"""Calibrate QA_ANSWER__STATEMENT_COVERAGE (qa_assistant.tuning.statements).

Usage: python eval/statement_calibration.py --index DIR [--questions FILE] [--docs DIR]
       [--max-false F]
"""

from pathlib import Path

from qa_assistant.tuning.statements import main

if __name__ == "__main__":
    raise SystemExit(main(root=Path(__file__).resolve().parent.parent))
