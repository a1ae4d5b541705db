"""``qa-assistant deploy-check``, apart from the runtime: docs/DEPLOY.md's deployment started,
loaded and crashed on loopback, its store compared with a clean sequential ingest.

The runtime never imports this package.
"""
