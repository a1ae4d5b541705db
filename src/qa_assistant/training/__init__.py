"""Training, apart from the runtime: ``qa-assistant train`` (the relevance model) and
``qa-assistant train-embedder`` (the dense leg's embedder), on the public QA sets of
``shared/training``, with the training data and optimiser loop they share.

The runtime never imports this package: it loads only what training wrote.
"""
