"""The known/new split every entity world shares: what the base stage and a trial see.

Why one mixin: the rule that new entities' questions are used for evaluation only, and that
the base model learns from known entities (QA for some, documents only for the rest), must
be the same in every world. A world provides ``documents(entities, paraphrases)`` and
``questions(entities, templates)``; this class decides who gets what, and
``documents_with_paraphrases`` how a world's documents are laid out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from platform.data.corpus import Corpus, Document, Question

PARAPHRASE_KINDS: dict[str, tuple[str, ...]] = {
    "same": ("paraphrase_same",),
    "reordered": ("paraphrase_reordered",),
    "both": ("paraphrase_same", "paraphrase_reordered"),
}
"""The paraphrase documents each ``paraphrases`` setting adds to the originals ("none": none)."""


class Named(Protocol):
    """An entity of any world: its documents and questions are tagged with its name."""

    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=Named)


def documents_with_paraphrases(
    entities: Sequence[E],
    paraphrases: str,
    original: Callable[[E], str],
    paraphrased: Callable[[E], Mapping[str, Sequence[str]]],
) -> list[Document]:
    """Every entity's original, in entity order, then per entity the paraphrases ``paraphrases`` asks for.

    Why one function: the document order (all originals first, then each entity's same-order
    paraphrases before its changed-order ones) is what the stream's seeded shuffle starts from,
    so every world must lay its documents out the same way. ``paraphrased(entity)`` maps a
    document kind (``paraphrase_same``, ``paraphrase_reordered``) to that entity's texts.
    """
    docs = [Document(original(e), e.name, "original") for e in entities]
    kinds = PARAPHRASE_KINDS.get(paraphrases, ())
    if not kinds:
        return docs
    for e in entities:
        texts = paraphrased(e)
        for kind in kinds:
            docs += [Document(text, e.name, kind) for text in texts[kind]]
    return docs


class KnownNewSplit:
    corpus_name: ClassVar[str]
    train_templates: ClassVar[Any]
    test_templates: ClassVar[Any]
    known: list
    known_with_qa: list
    new: list

    def documents(self, entities: list, paraphrases: str = "none") -> list[Document]:
        raise NotImplementedError

    def questions(self, entities: list, templates: Any) -> list[Question]:
        raise NotImplementedError

    def base_corpus(self, paraphrases: str = "none") -> Corpus:
        """What the base stage's formats encode: every known entity's documents."""
        return Corpus(name="known", documents=self.base_documents(paraphrases))

    def base_documents(self, paraphrases: str = "none") -> list[Document]:
        """Known entities' documents (with a paraphrase set): the base model reads every one."""
        return self.documents(self.known, paraphrases)

    def base_qa(self) -> list[Question]:
        """QA pairs the base model is trained on: known entities, training templates only."""
        return self.questions(self.known_with_qa, self.train_templates)

    def base_probe_questions(self) -> list[Question]:
        """Known entities whose QA was *not* trained: does the base model answer from documents?"""
        with_qa = set(self.known_with_qa)
        return self.questions([e for e in self.known if e not in with_qa], self.test_templates)

    def injection_corpus(self, paraphrases: str = "none") -> Corpus:
        """What a fine-tuning trial sees: new entities' documents; their questions to evaluate."""
        return Corpus(
            name=self.corpus_name,
            documents=self.documents(self.new, paraphrases),
            questions=self.questions(self.new, self.test_templates),
            retention_questions=self.questions(self.known_with_qa, self.test_templates),
        )
