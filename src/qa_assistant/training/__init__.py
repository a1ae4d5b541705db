"""Training, apart from the runtime: ``qa-assistant train-relevance`` (the relevance model),
``train-embedder`` (the dense leg's embedder), ``train-span-model`` and ``train-answerability``, on
the public QA sets of ``shared/training``, with the training data and optimiser loop they
share.

The runtime never imports this package: it loads only what training wrote.
"""
