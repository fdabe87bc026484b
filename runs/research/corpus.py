"""The offline research corpus: the Agents SDK's documentation pages (shipped in corpus/) and
the dashboard's own README, one document per section; searched with BM25 over words.

A document has an id (`sdk/mcp`, `dashboard/previews-versions-and-share-links`), a title, the
URL where it is published, and its text (Markdown).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.conf import settings

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
SDK_DIR = CORPUS_DIR / "openai-agents-python"
SDK_SITE = "https://openai.github.io/openai-agents-python/"
# The README is cited by its place in the dashboard's repository.
README_URL = "README.md"
STOPWORDS = set(
    "a an and are as at be by can do does for from how i in is it its of on or that the this "
    "to was what when where which who why will with you your use using used".split()
)
K1, B = 1.2, 0.75


def words(text: str) -> list[str]:
    """Lower-cased words, stop words dropped, a plural `s` trimmed (agents -> agent)."""
    found = []
    for word in re.findall(r"[a-z0-9_]+", text.lower()):
        if word in STOPWORDS or len(word) < 2:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        found.append(word)
    return found


@dataclass
class Document:
    id: str
    title: str
    url: str
    text: str
    terms: Counter = field(default_factory=Counter, repr=False)

    def __post_init__(self) -> None:
        # The title counts three times: a page about MCP says so in its title.
        self.terms = Counter(words(self.text) + words(self.title) * 3)

    @property
    def length(self) -> int:
        return sum(self.terms.values())

    def passages(self) -> list[str]:
        return [p.strip() for p in re.split(r"\n\s*\n", self.text) if len(p.strip()) > 40]

    def best_passage(self, query: str, limit: int = 320) -> str:
        """The paragraph that holds most of the query's words, as one line."""
        asked = set(words(query))
        passages = self.passages() or [self.text]

        def rank(passage: str) -> tuple[bool, int, int]:
            prose = not passage.startswith(("|", "```", "    ", "!!!", "<"))
            return prose, len(asked & set(words(passage))), -passages.index(passage)

        best = max(passages, key=rank)
        line = " ".join(best.split())
        return line if len(line) <= limit else line[: limit - 1].rsplit(" ", 1)[0] + "…"


def _title(text: str, fallback: str) -> str:
    match = re.search(r"(?m)^#\s+(.+)$", text)
    return match[1].strip() if match else fallback


def _sdk_documents() -> list[Document]:
    documents = []
    for path in sorted(SDK_DIR.rglob("*.md")):
        relative = path.relative_to(SDK_DIR).with_suffix("").as_posix()
        page = relative.removesuffix("index").rstrip("/")
        text = path.read_text()
        documents.append(
            Document(
                id=f"sdk/{relative}",
                title=f"Agents SDK: {_title(text, relative)}",
                url=f"{SDK_SITE}{page}/" if page else SDK_SITE,
                text=text,
            )
        )
    return documents


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _readme_documents() -> list[Document]:
    readme = Path(settings.BASE_DIR) / "README.md"
    if not readme.exists():
        return []
    documents = []
    sections = re.split(r"(?m)^(?=#{2,3} )", readme.read_text())
    for section in sections[1:]:
        heading = section.splitlines()[0].lstrip("#").strip().replace("`", "")
        slug = _slug(heading)
        documents.append(
            Document(
                id=f"dashboard/{slug}",
                title=f"Sandbox Dashboard README: {heading}",
                url=f"{README_URL}#{slug}",
                text=section,
            )
        )
    return documents


class Corpus:
    def __init__(self, documents: list[Document]) -> None:
        self.documents = {document.id: document for document in documents}
        self.average_length = sum(d.length for d in documents) / max(len(documents), 1)
        frequency: Counter = Counter()
        for document in documents:
            frequency.update(document.terms.keys())
        total = len(documents)
        self.idf = {
            term: math.log(1 + (total - seen + 0.5) / (seen + 0.5))
            for term, seen in frequency.items()
        }

    def search(self, query: str, limit: int = 5) -> list[tuple[Document, float]]:
        """The documents that best match `query`, best first (BM25)."""
        asked = set(words(query))
        scored = []
        for document in self.documents.values():
            norm = K1 * (1 - B + B * document.length / self.average_length)
            score = sum(
                self.idf[term] * document.terms[term] * (K1 + 1) / (document.terms[term] + norm)
                for term in asked
                if term in document.terms
            )
            if score > 0:
                scored.append((document, score))
        scored.sort(key=lambda pair: (-pair[1], pair[0].id))
        return scored[:limit]

    def get(self, document_id: str) -> Document | None:
        return self.documents.get(document_id.strip())


@cache
def corpus() -> Corpus:
    return Corpus(_sdk_documents() + _readme_documents())
