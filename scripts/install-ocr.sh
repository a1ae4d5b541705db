#!/usr/bin/env bash
# Installs what ingest needs to read scans, photos and old Word files: Tesseract with its
# Vietnamese model (OCR of image-only PDFs, PNG, JPEG, TIFF) and catdoc (.doc).
#
# Idempotent: does nothing when tesseract (with the vie model) and catdoc are already there.
# Optional at run time: without them ingest still reads every other format and reports such
# files under `failed`, saying what to install. About 31 MB installed.
set -euo pipefail

if command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx vie \
    && command -v catdoc >/dev/null 2>&1; then
    echo "OCR tools already installed: $(tesseract --version 2>&1 | head -n 1), catdoc"
    exit 0
fi

# shellcheck source=scripts/apt-install.sh
source "$(dirname "$0")/apt-install.sh"
apt_install "OCR and .doc tools" tesseract-ocr tesseract-ocr-vie catdoc

tesseract --version 2>&1 | head -n 1
tesseract --list-langs 2>/dev/null | grep -x vie
command -v catdoc
