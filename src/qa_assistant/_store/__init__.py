"""The store: chunks and their vectors in Chroma, and the lexical index beside them.

:mod:`.index` is the Chroma store (the only module importing chromadb), with :mod:`.manifest`
(what embedded it) and :mod:`.change_log` (a generation per write); :mod:`.lexical` with
:mod:`.lexical_segment` and :mod:`.lexical_file` is the BM25 index, which :mod:`.follow` keeps
at the store's head; :mod:`.lease` is the ingest lock and :mod:`.ingest` writes documents in.
This file imports nothing, so the package has no import cycle.
"""
