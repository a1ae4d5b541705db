"""The manifest: what embedded an index's vectors and how its chunks were cut, stored as the
chunk collection's metadata. Ingest compares it with the configured embedder and chunker to
re-embed in place or refuse; a question against an index whose manifest does not match (or is
marked incomplete mid re-embedding) is refused rather than answered from mixed vectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MANIFEST_FORMAT", "Manifest"]

MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class Manifest:
    embedding_model: str
    dimension: int
    chunker_version: str
    # False while an ingest re-embeds the chunks for this model: the vectors are mixed then,
    # so no question may use them until it has finished.
    complete: bool = True

    def as_metadata(self) -> dict[str, Any]:
        return {
            "qa_format": MANIFEST_FORMAT,
            "qa_embedding_model": self.embedding_model,
            "qa_dimension": self.dimension,
            "qa_chunker_version": self.chunker_version,
            "qa_reembedding": not self.complete,
        }

    def can_reembed_as(self, other: Manifest) -> bool:
        """Whether ``other``'s embedder can replace the vectors in place: the chunks and the
        vector size stay, only the model that embedded them differs (or did not finish)."""
        return (
            self != other
            and self.dimension == other.dimension
            and self.chunker_version == other.chunker_version
        )

    @classmethod
    def from_metadata(cls, meta: dict[str, Any] | None) -> Manifest | None:
        if not meta or "qa_embedding_model" not in meta:
            return None
        return cls(
            embedding_model=str(meta["qa_embedding_model"]),
            dimension=int(meta["qa_dimension"]),
            chunker_version=str(meta["qa_chunker_version"]),
            complete=not meta.get("qa_reembedding", False),
        )
