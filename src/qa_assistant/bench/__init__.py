"""Benchmarks, apart from the runtime: ``qa-assistant bench`` (ingest speed, query latency,
memory, disk, cold start, replicas and concurrent citizens at 1k to 100k chunks) and
``python -m qa_assistant.bench.embedding`` (the embedding options' speed and fidelity).

The runtime never imports this package; it may use :mod:`qa_assistant.testing`'s fakes.
"""
