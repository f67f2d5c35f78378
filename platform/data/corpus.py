"""The data model every source produces and every objective consumes.

Why one small model: objectives, the Ray Data stream and evaluation must not care whether
the documents came from the paper's JSON files, a Hugging Face dataset or a synthetic world.
A source yields a ``Corpus``: documents to train on (originals and paraphrases, each its own
item) and questions to evaluate with (never trained on), plus, for math, problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["forward", "backward"]
DocumentKind = Literal["original", "paraphrase_same", "paraphrase_reordered", "reversed"]


@dataclass(frozen=True)
class Document:
    """One training text. Paraphrases are separate documents sharing the entity."""

    text: str
    entity: str = ""
    kind: DocumentKind = "original"


@dataclass(frozen=True)
class Question:
    """An evaluation question. ``direction`` is derived from (group, task) by the source."""

    question: str
    answer: str
    group: str
    task: str
    direction: Direction
    entity: str = ""
    metric: Literal["rouge1_recall", "exact_number"] = "rouge1_recall"


@dataclass(frozen=True)
class MathProblem:
    """A GSM8K-format problem: ``answer`` is the worked solution ending in ``#### <number>``."""

    question: str
    answer: str

    @property
    def final_number(self) -> str:
        """The number after ``####``: what exact-match evaluation compares."""
        return self.answer.rsplit("####", 1)[-1].strip().replace(",", "")

    def as_question(self) -> Question:
        """Math is scored like QA, by exact match of the final number (reported as forward)."""
        return Question(self.question, self.final_number, "math", "gsm8k", "forward", metric="exact_number")


@dataclass
class Corpus:
    """Everything one trial trains on and is evaluated with."""

    name: str
    documents: list[Document] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    train_problems: list[MathProblem] = field(default_factory=list)
    test_problems: list[MathProblem] = field(default_factory=list)
    retention_questions: list[Question] = field(default_factory=list)
    """Questions about facts the base model already knew: forgetting shows up here."""

    def documents_of_kind(self, *kinds: str) -> list[Document]:
        return [d for d in self.documents if d.kind in kinds]
