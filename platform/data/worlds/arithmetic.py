"""A world of arithmetic word problems in GSM8K format: the math task at a CPU's scale.

Why it looks like this: docs/method.md's math data is GSM8K-format ``{"question", "answer"}``
with the answer a worked solution ending in ``#### <number>``, scored by exact match of that
number. GSM8K itself is far beyond a tiny model, so this world keeps the format and shrinks
the arithmetic: a few templates (addition, subtraction, multiplication, two steps), names and
objects from small lists, and every number, intermediate or final, between 1 and 99.

Sizes from the spec's ``data.world`` (no new schema fields): ``8 * num_known`` training
problems and ``2 * num_new`` test problems, all questions distinct, so a test question
never appears in training. The test set is drawn first, from its own stream of ``seed``, so
it depends only on ``(seed, num_new)``: changing the training size keeps the same test set.

The base stage (``base_corpus``, ``base_probe_questions``) reads *known* problems: another
``8 * num_known``, drawn from a third stream and distinct from every training and test
question, stand for the arithmetic a pretrained model brings, so ``sft`` and ``masked_sft``
fine-tune a model that already answers a plain question in the evaluation format; ``2 *
num_new`` more, never trained, are the base model's own check. There are no known
documents and no separate QA pairs: a problem is its own question/answer pair.

Numbers are written naturally ("12"); the word-level tokenizer must split them into digits
(a digit pre-tokenizer), so only the ten digits are vocabulary.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from platform.data.corpus import Corpus, MathProblem, Question
from platform.spec import WorldConfig

NAMES = ["Mara", "Tomas", "Lena", "Omar", "Ines", "Jonah", "Priya", "Felix", "Nadia", "Hugo", "Keiko", "Ravi"]
OBJECTS = ["apples", "pears", "marbles", "stickers", "pencils", "cookies", "shells", "stamps", "books", "coins"]
MAX_NUMBER = 99
"""Every number in a problem (operands, intermediate and final results) is in 1..99."""
TRAIN_PER_KNOWN = 8
TEST_PER_NEW = 2
KNOWN_PER_KNOWN = 8
"""Problems the base stage trains on, per known entity of the config."""
PROBE_PER_NEW = 2
"""Known problems the base stage never trains, its check, per new entity of the config."""


Step = tuple[int, str, int, int]
"""One line of worked solution: ``(x, op, y, result)``."""


@dataclass(frozen=True)
class Template:
    """One problem shape: the question text and how its numbers are drawn and solved."""

    question: str
    """Format string over ``{n}`` (name), ``{m}`` (another name), ``{o}`` (objects), ``{a}``, ``{b}``, ``{c}``."""
    draw: Callable[[random.Random], tuple[tuple[int, ...], list[Step]]]
    """Operands and worked steps; every operand and result stays in 1..MAX_NUMBER."""


def _add(rng: random.Random) -> tuple[tuple[int, ...], list[Step]]:
    a = rng.randint(1, MAX_NUMBER - 1)
    b = rng.randint(1, MAX_NUMBER - a)
    return (a, b), [(a, "+", b, a + b)]


def _subtract(rng: random.Random) -> tuple[tuple[int, ...], list[Step]]:
    a = rng.randint(2, MAX_NUMBER)
    b = rng.randint(1, a - 1)
    return (a, b), [(a, "-", b, a - b)]


def _multiply(rng: random.Random, limit: int = MAX_NUMBER) -> tuple[tuple[int, ...], list[Step]]:
    a = rng.randint(2, 9)
    b = rng.randint(2, limit // a)
    return (a, b), [(a, "*", b, a * b)]


def _add_then_subtract(rng: random.Random) -> tuple[tuple[int, ...], list[Step]]:
    operands, steps = _add(rng)
    total = steps[-1][3]
    c = rng.randint(1, total - 1)
    return (*operands, c), [*steps, (total, "-", c, total - c)]


def _multiply_then_add(rng: random.Random) -> tuple[tuple[int, ...], list[Step]]:
    operands, steps = _multiply(rng, limit=MAX_NUMBER - 1)  # leave room to add at least 1
    product = steps[-1][3]
    c = rng.randint(1, MAX_NUMBER - product)
    return (*operands, c), [*steps, (product, "+", c, product + c)]


TEMPLATES = (
    Template("{n} has {a} {o} and buys {b} more . How many {o} does {n} have now ?", _add),
    Template(
        "{n} finds {a} {o} in the morning and {b} {o} in the afternoon . How many {o} does {n} find in all ?", _add
    ),
    Template("{n} has {a} {o} and gives {b} of them to {m} . How many {o} does {n} have left ?", _subtract),
    Template("{n} had {a} {o} and lost {b} . How many {o} does {n} have now ?", _subtract),
    Template("{n} has {a} bags with {b} {o} in each bag . How many {o} does {n} have ?", _multiply),
    Template(
        "{n} has {a} {o} , buys {b} more and then gives {c} to {m} . How many {o} does {n} have now ?",
        _add_then_subtract,
    ),
    Template("{n} buys {a} bags of {b} {o} and finds {c} more . How many {o} does {n} have ?", _multiply_then_add),
)


def worked_answer(steps: list[Step]) -> str:
    """GSM8K's answer layout: the computation step by step, then the final line ``#### N``."""
    work = " ".join(f"{x} {op} {y} = {result} ." for x, op, y, result in steps)
    return f"{work}\n#### {steps[-1][3]}"


def draw_problem(rng: random.Random) -> MathProblem:
    template = rng.choice(TEMPLATES)
    name, other = rng.sample(NAMES, 2)
    operands, steps = template.draw(rng)
    numbers = dict(zip("abc", operands, strict=False))
    question = template.question.format(n=name, m=other, o=rng.choice(OBJECTS), **numbers)
    return MathProblem(question, worked_answer(steps))


def draw_problems(rng: random.Random, count: int, exclude: set[str]) -> list[MathProblem]:
    """``count`` problems whose questions are distinct and not in ``exclude``.

    Why a bound on attempts: the problem space is finite; asking for more than it holds
    must fail clearly rather than loop forever.
    """
    problems: list[MathProblem] = []
    seen = set(exclude)
    for _attempt in range(50 * count + 1000):
        if len(problems) == count:
            break
        problem = draw_problem(rng)
        if problem.question not in seen:
            seen.add(problem.question)
            problems.append(problem)
    if len(problems) < count:
        raise ValueError(f"the arithmetic world cannot draw {count} distinct problems")
    return problems


@dataclass
class ArithmeticWorld:
    """Train/test problems of the trials, and the known problems of the base stage."""

    train: list[MathProblem]
    test: list[MathProblem]
    known: list[MathProblem]
    """What the base stage trains on (the arithmetic a pretrained model already knows)."""
    probe: list[MathProblem]
    """Known problems the base stage never trains: whether the base model answers at all."""

    def base_corpus(self, paraphrases: str = "none") -> Corpus:
        """The known problems, which the math stage's formats encode; no paraphrases in math."""
        return Corpus(name="known", train_problems=list(self.known))

    def base_qa(self) -> list[Question]:
        return []  # every known problem is trained in the QA (``sft``) format already

    def base_probe_questions(self) -> list[Question]:
        return [p.as_question() for p in self.probe]

    def injection_corpus(self, paraphrases: str = "none") -> Corpus:
        """Training problems and held-out test problems; math has no paraphrases (ignored)."""
        return Corpus(
            name="arithmetic",
            train_problems=list(self.train),
            test_problems=list(self.test),
            questions=[p.as_question() for p in self.test],
        )


def build_world(config: WorldConfig) -> ArithmeticWorld:
    """Generate the world deterministically from ``config.seed`` (sizes: module docstring)."""
    test = draw_problems(random.Random(f"arithmetic/{config.seed}/test"), TEST_PER_NEW * config.num_new, set())
    train = draw_problems(
        random.Random(f"arithmetic/{config.seed}/train"), TRAIN_PER_KNOWN * config.num_known, {p.question for p in test}
    )
    known_count = KNOWN_PER_KNOWN * config.num_known
    known = draw_problems(
        random.Random(f"arithmetic/{config.seed}/known"),
        known_count + PROBE_PER_NEW * config.num_new,
        {p.question for p in test + train},
    )
    known, probe = known[:known_count], known[known_count:]
    return ArithmeticWorld(train=train, test=test, known=known, probe=probe)


def vocabulary_texts() -> list[str]:
    """Every word the world can produce: templates, names, objects, the ten digits, operators."""
    words = NAMES + OBJECTS + [str(d) for d in range(10)] + ["+", "-", "*", "=", ".", "####"]
    fields = {key: "" for key in ("n", "m", "o", "a", "b", "c")}
    return [" ".join(words)] + [t.question.format(**fields) for t in TEMPLATES]
