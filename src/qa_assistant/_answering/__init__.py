"""Retrieved passages → a cited Vietnamese :class:`~qa_assistant.types.Answer`.

Two answerers implement :class:`~qa_assistant.protocols.Answerer`:

* :class:`~qa_assistant._answering.extractive.ExtractiveAnswerer` (the default, offline):
  quotes the passage sentences that best match the question, each followed by ``[n]``, or
  abstains when the evidence is too weak.
* :class:`~qa_assistant._answering.llm.LLMAnswerer`: asks a chat model (OpenAI-compatible
  server or Ollama, through LangChain) to answer only from numbered passages, then checks
  every sentence against the passage it cites; where its reply cannot be shown, the
  extractive answerer answers.

The package's modules: :mod:`.common` (what both share: the abstention, the citations),
:mod:`.extractive`, :mod:`.llm` with its :mod:`.prompts` and :mod:`.claims` (what a passage
must hold of a sentence), and :mod:`.factory`
(:func:`~qa_assistant._answering.factory.make_answerer`). The answerers import :mod:`.common`;
only the factory imports the answerers, and this file imports nothing, so the package has no
import cycle.
"""
