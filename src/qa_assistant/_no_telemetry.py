"""Every bundled library's telemetry off, in this process and in the processes it starts.

The package imports this module first, so it runs before any of these libraries loads: each
reads its switch from the environment once, at import or when its runtime starts, and a switch
set later is ignored. Processes started from here (a Chroma server, replicas, workers) inherit
the environment. The values are forced, not defaults: a deployment promises that nothing
leaves the machine, whatever the shell exported.
"""

from __future__ import annotations

import os

__all__ = ["TELEMETRY_OFF"]

TELEMETRY_OFF: dict[str, str] = {
    # ONNX Runtime's 1DS client: otherwise every process that starts the runtime writes a
    # device id and an event queue under ~/.cache/Microsoft/DeveloperTools and resolves
    # Microsoft's collector. Its disable_telemetry_events() is too late for that: the client,
    # the device id and the lookups start with the runtime, before any call can reach it.
    "ORT_DISABLE_TELEMETRY": "1",
    # Chroma's product telemetry (PostHog).
    "ANONYMIZED_TELEMETRY": "False",
    # Gradio's usage analytics and version check, in the server and in gradio_client.
    "GRADIO_ANALYTICS_ENABLED": "False",
    # huggingface_hub's and transformers' usage events.
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # The shared convention (donottrack.sh), for any library that honours only that.
    "DO_NOT_TRACK": "1",
}

os.environ.update(TELEMETRY_OFF)
