"""Retrieval: a question → the passages that best answer it.

:mod:`.question` analyses the question (once per text), :mod:`.retriever` runs the dense and
lexical legs, fuses them, orders by sentence evidence (:mod:`.evidence`, which the extractive
answerer reads too) and diversifies; :mod:`.hybrid_retriever` is the same retrieval as a
LangChain retriever. This file imports nothing, so the package has no import cycle.
"""
