"""Drivers for the tooling and the tests, apart from the runtime: a local ``chroma run`` and a
client that uses a served page over HTTP as a browser does.

The runtime never imports this package.
"""
