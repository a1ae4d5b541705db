"""A lexical index on disk: one folded segment as ``lexical.npz``, arrays and UTF-8 blobs with no
per-chunk objects.

A process start then reads a few large arrays instead of parsing every chunk (JSON of 100k
chunks took seconds); chunks are decoded only when a question returns them. The file records
the :class:`~qa_assistant.types.StoreVersion` the index reflects, and is written to a temporary
file and renamed, so a crash never leaves a half-written index.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ..types import StoreVersion
from .lexical_segment import ChunkTable, Field, Segment, Texts, Vocab, blob, blob_text, json_blob

_FORMAT = 5  # 5: term frequencies and lengths, BM25 applied at query time; store version
_FILE = "lexical.npz"
_OLD_FILES = ("lexical.json",)
_FIELDS = ("plain", "syllables", "folded")


def write_segment(
    folder: Path, segment: Segment, vocabs: tuple[Vocab, ...], version: StoreVersion
) -> None:
    """Write a folded index's one segment, its vocabularies and its version."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "format": np.array(_FORMAT),
        "store_id": blob(version.store_id),
        "generation": np.array(version.generation, dtype=np.int64),
        "ids": json_blob(segment.table.ids),
    }
    arrays.update(segment.table.arrays())
    arrays.update(segment.words.arrays("words"))
    for name, f, vocab in zip(_FIELDS, segment.fields, vocabs, strict=True):
        arrays[f"{name}.vocab"] = json_blob(list(vocab.ids))
        arrays[f"{name}.data"] = f.tf.data
        arrays[f"{name}.indices"] = f.tf.indices
        arrays[f"{name}.indptr"] = f.tf.indptr
        arrays[f"{name}.lengths"] = f.lengths
    # Write to a temporary file and rename: a crash never leaves a half-written index.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lexical-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, folder / _FILE)
    finally:
        Path(tmp).unlink(missing_ok=True)
    for old in _OLD_FILES:  # an older format's files would only be re-read and refused
        (folder / old).unlink(missing_ok=True)


def read_segment(folder: Path) -> tuple[Segment, tuple[Vocab, ...], StoreVersion] | None:
    """The saved segment, vocabularies and version, or None when there is no file, it is
    unreadable or of another format."""
    path = folder / _FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            if int(saved["format"]) != _FORMAT:
                return None
            ids = [str(i) for i in json.loads(blob_text(saved["ids"]))]
            fields = []
            vocabs = []
            for name in _FIELDS:
                terms = json.loads(blob_text(saved[f"{name}.vocab"]))
                matrix = sparse.csr_matrix(
                    (saved[f"{name}.data"], saved[f"{name}.indices"], saved[f"{name}.indptr"]),
                    shape=(len(terms), len(ids)),
                )
                lengths = np.asarray(saved[f"{name}.lengths"], dtype=np.float64)
                if len(lengths) != len(ids):
                    raise ValueError("lexical index lengths differ from its rows")
                fields.append(Field(matrix, lengths))
                vocabs.append(Vocab(terms))
            table = ChunkTable.load(ids, saved)
            words = Texts.load(saved, "words")
            version = StoreVersion(blob_text(saved["store_id"]), int(saved["generation"]))
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError):
        return None
    segment = Segment.of(table, words, (fields[0], fields[1], fields[2]))
    return segment, tuple(vocabs), version
