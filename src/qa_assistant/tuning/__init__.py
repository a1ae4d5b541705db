"""How the shipped settings were chosen: the scripts of ``eval/`` as a tested interface; and
their reference, docs/SETTINGS.md.

One module each: :mod:`.loco` holds the corpora and the leave-one-corpus-out rule the others
share; :mod:`.fusion` chooses the retrieval settings, :mod:`.span_model` the span model's,
:mod:`.statements` the statement coverage threshold, and :mod:`.ocr` measures reading scans,
photos and old Word files. ``python eval/<name>.py`` runs each module's ``main``.
:mod:`.settings_doc` renders docs/SETTINGS.md from the settings' declarations. Tooling: the
runtime imports none of it.
"""
