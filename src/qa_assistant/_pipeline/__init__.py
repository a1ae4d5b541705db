"""The question pipeline: a question → its answer, as one LangChain runnable.

:mod:`.asking` takes the question in (its text checked, its options resolved, the store it is
answered from), :mod:`.chain` runs the steps (retrieve, answer, the second look, the document
in force) and :mod:`.amendments` finds which document amends which. This file imports
nothing, so the package has no import cycle.
"""
