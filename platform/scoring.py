"""Answer scoring exactly as the paper: ROUGE-1 recall after its normalisation, math exact match.

Normalisation (METHOD.md): strip, remove punctuation, split into words, drop the stop words
{a, of, the, and, is, are, be, to, new, on, in, at, an, for}, then unigram recall of the
reference's words, as a set, case-sensitive. An empty answer scores 0. The unigram recall
itself is computed by ``rouge-score`` with this tokenizer plugged in.
"""

from __future__ import annotations

import re
import string

from rouge_score import rouge_scorer

STOP_WORDS = frozenset(["a", "of", "the", "and", "is", "are", "be", "to", "new", "on", "in", "at", "an", "for"])
_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")


class PaperTokenizer:
    """rouge-score tokenizer: the paper's normalisation, each word once (set overlap)."""

    def tokenize(self, text: str) -> list[str]:
        words = _PUNCTUATION.sub(" ", text.strip()).split()
        return list(dict.fromkeys(w for w in words if w not in STOP_WORDS))


_SCORER = rouge_scorer.RougeScorer(["rouge1"], tokenizer=PaperTokenizer())


def rouge1_recall(answer: str, reference: str) -> float:
    """Share of the reference's content words that the answer contains (0 for empty answers)."""
    if not answer.strip():
        return 0.0
    return float(_SCORER.score(target=reference, prediction=answer)["rouge1"].recall)


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def final_number(text: str) -> str | None:
    """The answer's final number: after ``####`` if present, else the last number in the text."""
    tail = text.rsplit("####", 1)[-1] if "####" in text else text
    numbers = _NUMBER.findall(tail)
    if not numbers:
        return None
    value = numbers[-1 if "####" not in text else 0].replace(",", "")
    return value[:-2] if value.endswith(".0") else value


def math_exact_match(answer: str, reference_number: str) -> float:
    return 1.0 if final_number(answer) == reference_number else 0.0
