"""Answer scoring exactly as the paper: ROUGE-1 recall after its normalisation, math exact match.

The authors' rule (``compute_openQA_recall`` in their ``src/eval_util.py``), step by step
(``docs/method.md``): strip; *delete* every ASCII punctuation character (``string.punctuation``:
"free-diver" -> "freediver", "world's" -> "worlds", "3.5" -> "35"); split into words with
NLTK's word tokenizer (which also splits "cannot" -> "can not", "gonna" -> "gon na" and sets
curly quotes apart); drop the stop words {a, of, the, and, is, are, be, to, new, on, in, at,
an, for} whatever their case ("The", "New" too); then unigram recall of the reference's
remaining words, as sets, case-sensitive; with several references, the best. An answer with
no words left scores 0 (the authors' ``rouge`` call raises there), and so does a reference
with none.

Why NLTK's tokenizer class and not ``word_tokenize``: the latter first splits sentences with
the punkt model, a data download; with the punctuation deleted there is no sentence
boundary left for punkt to find, so the tokens are the same.
"""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Sequence

NLTK_OPTIONAL = ("scipy", "scipy.stats", "sklearn", "pyarrow", "pandas", "matplotlib", "numpy")
"""What ``import nltk`` loads when it is installed and the tokenizer never uses: NLTK's
package ``__init__`` imports its classifiers and statistics, which try these. Installed here as
Ray's, MLflow's and transformers' dependencies, they made ``import nltk`` take 2.4 s (0.4 s
without them) in every process that scores answers: the sweep's driver, every trial.
``scipy.stats`` on its own: a trial has loaded ``scipy`` (transformers' losses import
``scipy.optimize``) but not its statistics, which NLTK's association measures took 0.46 s for."""


def _word_tokenizer():
    """NLTK's word tokenizer, imported with the packages of ``NLTK_OPTIONAL`` that are not loaded
    yet hidden, so NLTK skips what needs them (its regular expressions need none). A later import
    of those packages is unaffected; an NLTK that cannot import without them is imported as is."""
    hidden = [name for name in NLTK_OPTIONAL if name not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden, None))
    try:
        from nltk.tokenize import NLTKWordTokenizer
    except ImportError:
        NLTKWordTokenizer = None
    finally:
        for name in hidden:
            del sys.modules[name]
    if NLTKWordTokenizer is None:  # import it again whole, none of its modules half-loaded
        for name in [name for name in sys.modules if name.partition(".")[0] == "nltk"]:
            del sys.modules[name]
        from nltk.tokenize import NLTKWordTokenizer
    return NLTKWordTokenizer()


STOP_WORDS = frozenset(["a", "of", "the", "and", "is", "are", "be", "to", "new", "on", "in", "at", "an", "for"])
_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)
_WORDS = _word_tokenizer()


def content_words(text: str) -> list[str]:
    """The paper's normalisation: punctuation deleted, NLTK words, stop words (any case) dropped."""
    words = _WORDS.tokenize(text.strip().translate(_DELETE_PUNCTUATION))
    return [word for word in words if word.lower() not in STOP_WORDS]


def rouge1_recall(answer: str, reference: str | Sequence[str]) -> float:
    """Share of the reference's content words the answer contains; the best over references."""
    references = [reference] if isinstance(reference, str) else list(reference)
    if not references:
        raise ValueError("rouge1_recall needs at least one reference")
    predicted = set(content_words(answer))
    if not predicted:
        return 0.0
    best = 0.0
    for text in references:
        wanted = set(content_words(text))
        if wanted:
            best = max(best, len(predicted & wanted) / len(wanted))
    return best


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
