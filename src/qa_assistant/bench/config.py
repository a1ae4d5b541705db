"""What one ``qa-assistant bench`` run is asked for: the documents, the collection sizes and the
counts, and the settings each collection is served with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..settings import Settings

__all__ = ["DEFAULT_SIZES", "BenchConfig", "parse_sizes", "settings_for", "size_label"]

DEFAULT_SIZES = (1000, 10_000, 100_000)


@dataclass(frozen=True)
class BenchConfig:
    docs: Path
    sizes: tuple[int, ...] = DEFAULT_SIZES
    queries: int = 40  # questions timed per collection (after a few warm-up ones)
    plain_sample: int = 200  # chunks the plain encode is timed on (it is the slow side)
    clients: int = 20  # citizens asking the served page at once (0: no concurrent figure)
    fake: bool = False  # FakeEmbedder and FakeRelevanceModel, no span model (tests)
    workdir: Path | None = None  # kept when given; a temporary folder otherwise
    settings: Settings = field(default_factory=lambda: Settings(_env_file=None))  # type: ignore[call-arg]


def settings_for(config: BenchConfig, index_dir: Path) -> Settings:
    """The run's settings on the embedded store in ``index_dir``."""
    return config.settings.model_copy(update={"index_dir": index_dir, "chroma_url": None})


def size_label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def parse_sizes(text: str) -> tuple[int, ...]:
    sizes = []
    for part in re.split(r"[,\s]+", text.strip()):
        if part:
            m = re.fullmatch(r"(\d+)(k?)", part.lower())
            if not m:
                raise ValueError(f"{part!r} is not a size such as 1000 or 10k")
            sizes.append(int(m.group(1)) * (1000 if m.group(2) else 1))
    if not sizes or min(sizes) < 1:
        raise ValueError("give at least one positive size")
    return tuple(sorted(set(sizes)))
