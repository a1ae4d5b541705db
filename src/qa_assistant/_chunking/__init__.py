"""Document → chunks: a document's sections, each packed into pieces that fit the embedding
model, every chunk an exact slice of ``Document.text``.

One module per step: :mod:`.official_parts` (an official document's header, preamble and
signature), :mod:`.headings` (where sections start), :mod:`.sections` (the document's
sections), :mod:`.packing` (a section's span split to the token budget) and :mod:`.chunker`,
which runs them (:func:`~qa_assistant._chunking.chunker.chunk_document`). This file imports
nothing, so the package has no import cycle.
"""
