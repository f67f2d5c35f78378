"""A Biography-style world: fictitious people, each with a six-sentence biography.

Why it looks like this: it reproduces the paper's Biography set (docs/method.md, "Data") at a size
a CPU can train. Every person has a unique full name, a gender (for the pronouns), a unique
birth date, a birth city, a university, a major, a company and a work city. The biography
states the six attributes in that order, and only its first sentence names the person: the
others say "She" or "He", so the name-to-attribute link must be learned across sentences.

Questions (group ``Biography``): *forward* (task ``N2D``) asks one attribute given the name,
six a person; *backward* (task ``D2N``) asks the name given three attributes. Each backward
triple identifies its person uniquely among *all* people of the world, else the question
would have several right answers; birth dates are unique, so every person has such triples.

As in the NameDescription world, people are split into *known* ones (the base model learns
the formats on them) and *new* ones (only their documents are injected), and the test
question templates differ from every trained one. Paraphrases: same-order ones reword every
sentence and keep the order; changed-order ones also shuffle the sentences, the name staying
in whichever sentence comes first. ``Rendering``, ``paraphrase_renderings``, ``render`` and
``rendered_documents`` are shared with the Wiki world, whose paragraphs are built the same way.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from platform.data.corpus import Document, Question
from platform.data.worlds.split import E, KnownNewSplit, documents_with_paraphrases
from platform.errors import UserError

FEMALE_FIRST_NAMES = [
    "Adela",
    "Beatrix",
    "Celestine",
    "Dorothea",
    "Eloise",
    "Florence",
    "Genevieve",
    "Harriet",
    "Ingrid",
    "Josephine",
    "Katarina",
    "Lucinda",
    "Matilda",
    "Nerissa",
    "Octavia",
    "Penelope",
    "Rosamund",
    "Sabine",
    "Theodora",
    "Ursula",
    "Valentina",
    "Winifred",
    "Xanthe",
    "Yolanda",
    "Zelda",
    "Annika",
    "Bettina",
    "Cordelia",
    "Damaris",
    "Esmeralda",
]
MALE_FIRST_NAMES = [
    "Ambrose",
    "Benedict",
    "Cornelius",
    "Desmond",
    "Edmund",
    "Frederick",
    "Gideon",
    "Horatio",
    "Isidore",
    "Jasper",
    "Killian",
    "Leander",
    "Montgomery",
    "Nathaniel",
    "Oberon",
    "Peregrine",
    "Reginald",
    "Sebastian",
    "Tristan",
    "Ulysses",
    "Valentin",
    "Willoughby",
    "Xavier",
    "Yorick",
    "Zachariah",
    "Archibald",
    "Bartholomew",
    "Crispin",
    "Dashiell",
    "Emmerich",
]
LAST_NAMES = [
    "Ashdown",
    "Bellweather",
    "Carrow",
    "Delacroix",
    "Eastwood",
    "Fitzroy",
    "Goodfellow",
    "Hawthorne",
    "Ironside",
    "Jellicoe",
    "Kingsley",
    "Langford",
    "Montague",
    "Nightingale",
    "Ormsby",
    "Pemberton",
    "Quartermaine",
    "Ravenscroft",
    "Sinclair",
    "Trevelyan",
    "Umberfield",
    "Vance",
    "Wainwright",
    "Yardley",
    "Ainsworth",
    "Blackmore",
    "Chadwick",
    "Dunstan",
    "Everly",
    "Fairchild",
    "Gresham",
    "Holloway",
    "Ingram",
    "Kendrick",
    "Lovelace",
    "Mayfield",
    "Norwood",
    "Osgood",
    "Prescott",
    "Radcliffe",
]
CITIES = [
    "Oakridge",
    "Brambleton",
    "Cinderford",
    "Dovecote",
    "Elderbrook",
    "Foxhollow",
    "Glimmerdale",
    "Hazelmoor",
    "Ivybridge",
    "Kestrelton",
    "Larkhaven",
    "Mossbank",
    "Nettlefield",
    "Orchardvale",
    "Pebblecombe",
    "Quillmouth",
    "Rushwick",
    "Saltmarsh",
    "Thistledown",
    "Upperford",
    "Violetmead",
    "Willowcrest",
    "Yarrowby",
    "Ambervale",
    "Briarwood",
    "Copperton",
    "Duskmere",
    "Emberly",
    "Fernhill",
    "Juniper Falls",
]
UNIVERSITIES = [
    "Halvorsen University",
    "Northmere College",
    "Greyfield Institute of Technology",
    "University of Westmarch",
    "Kessler University",
    "Ambleside College",
    "Redmoor University",
    "Saint Aldric University",
    "Corrigan Institute",
    "University of Lowcliff",
    "Whitford University",
    "Marston College",
    "Eldergate University",
    "University of Southvale",
    "Brennock Institute of Technology",
    "Caldwell University",
    "Harwick College",
    "University of Eastmere",
    "Penrose University",
    "Stonebridge College",
]
MAJORS = [
    "Marine Biology",
    "Civil Engineering",
    "Art History",
    "Economics",
    "Chemistry",
    "Philosophy",
    "Mechanical Engineering",
    "Linguistics",
    "Astronomy",
    "Nursing",
    "Architecture",
    "Accounting",
    "Geology",
    "Music Theory",
    "Computer Science",
    "Political Science",
    "Psychology",
    "Agriculture",
    "Statistics",
    "Journalism",
]
COMPANY_STEMS = [
    "Brightwater",
    "Ironvale",
    "Silverline",
    "Northstar",
    "Bluefield",
    "Redcliff",
    "Goldcrest",
    "Greenway",
    "Highmark",
    "Clearwell",
]
COMPANY_SECTORS = ["Systems", "Foods", "Logistics", "Motors", "Textiles", "Pharmaceuticals"]
COMPANIES = [f"{stem} {sector}" for stem in COMPANY_STEMS for sector in COMPANY_SECTORS]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
BIRTH_YEARS = range(1940, 2000)
BIRTH_DAYS = range(1, 29)
"""Days 1-28 exist in every month, so no date is impossible."""

GROUP = "Biography"
ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "company", "work_city")
PARAPHRASES_PER_SETTING = 5
"""Same-order and changed-order paraphrases a person (the paper publishes 5 of each)."""
BACKWARD_PER_PERSON = 3

# Sentence templates per attribute, in biography order: [0] writes the original, [1:] the
# paraphrases. {s} is the subject (the name in the first sentence, else the pronoun), {p}
# the possessive pronoun, {<attribute>} the value.
SENTENCES: dict[str, tuple[str, ...]] = {
    "birth_date": (
        "{s} was born on {birth_date} .",
        "{s} came into the world on {birth_date} .",
        "{s} celebrates {p} birthday on {birth_date} .",
        "{s} entered life on {birth_date} .",
        "{s} was welcomed into the world on {birth_date} .",
        "{s} first saw daylight on {birth_date} .",
    ),
    "birth_city": (
        "{s} was born in {birth_city} .",
        "{s} spent {p} earliest days in {birth_city} .",
        "{s} comes from {birth_city} .",
        "{s} took {p} first breath in {birth_city} .",
        "{s} began life in {birth_city} .",
        "{s} started life in the city of {birth_city} .",
    ),
    "university": (
        "{s} studied at {university} .",
        "{s} received {p} education at {university} .",
        "{s} graduated from {university} .",
        "{s} earned {p} degree at {university} .",
        "{s} attended {university} .",
        "{s} completed {p} studies at {university} .",
    ),
    "major": (
        "{s} majored in {major} .",
        "{s} specialized in {major} .",
        "{s} chose {major} as {p} field of study .",
        "{s} focused {p} studies on {major} .",
        "{s} pursued a degree in {major} .",
        "{s} concentrated on {major} .",
    ),
    "company": (
        "{s} worked at {company} .",
        "{s} was employed by {company} .",
        "{s} held a job at {company} .",
        "{s} built {p} career at {company} .",
        "{s} was on the staff of {company} .",
        "{s} earned a living at {company} .",
    ),
    "work_city": (
        "{s} worked in {work_city} .",
        "{s} had {p} job in {work_city} .",
        "{s} was employed in {work_city} .",
        "{s} spent {p} working life in {work_city} .",
        "{s} held a position in {work_city} .",
        "{s} pursued {p} career in {work_city} .",
    ),
}
CLAUSES = {
    "birth_date": "was born on {v}",
    "birth_city": "was born in {v}",
    "university": "studied at {v}",
    "major": "majored in {v}",
    "company": "worked at {v}",
    "work_city": "worked in {v}",
}
"""How a backward question states an attribute: the biography's own wording."""


@dataclass(frozen=True)
class Templates:
    """Question templates: forward ones per attribute over {n}; backward ones over clauses {a}, {b}, {c}."""

    forward: Mapping[str, tuple[str, ...]]
    backward: tuple[str, ...]


TRAIN_TEMPLATES = Templates(
    forward={
        "birth_date": ("When was {n} born ?", "What is the birth date of {n} ?"),
        "birth_city": ("Where was {n} born ?", "In which city was {n} born ?"),
        "university": ("Which university did {n} attend ?", "Where did {n} study ?"),
        "major": ("What did {n} major in ?", "What was the major of {n} ?"),
        "company": ("Which company did {n} work for ?", "Who employed {n} ?"),
        "work_city": ("Where did {n} work ?", "In which city did {n} work ?"),
    },
    backward=("Who {a} , {b} and {c} ?", "Which person {a} , {b} and {c} ?"),
)
TEST_TEMPLATES = Templates(
    forward={
        "birth_date": ("On what date was {n} born ?",),
        "birth_city": ("What is the birth city of {n} ?",),
        "university": ("At which university did {n} study ?",),
        "major": ("Which field did {n} study ?",),
        "company": ("What company employed {n} ?",),
        "work_city": ("What city did {n} work in ?",),
    },
    backward=("Give me the full name of the person who has the following attributes : 1 ) {a} , 2 ) {b} , 3 ) {c} ?",),
)


# --- rendering a text from sentence templates (shared with the Wiki world) -------------


@dataclass(frozen=True)
class Rendering:
    """How one text lays out its sentences: their order, and each sentence's template variant."""

    order: tuple[int, ...]
    """Sentence indices in the order they are written."""
    variants: tuple[int, ...]
    """Per sentence index, which of its templates writes it (0 = the original's)."""


def original_rendering(sentences: int) -> Rendering:
    """The original text: every sentence in its canonical order and wording."""
    return Rendering(tuple(range(sentences)), (0,) * sentences)


def paraphrase_renderings(
    rng: random.Random, sentences: int, variants: int, count: int, *, reorder: bool
) -> list[Rendering]:
    """``count`` paraphrases of a text of ``sentences`` sentences, each with ``variants`` rewordings.

    Every sentence is reworded, and the wordings are rotated so that no two paraphrases share
    the wording of any sentence (``count`` <= ``variants``): paraphrases add variety, not
    copies. With ``reorder`` each paraphrase also gets its own order, never the original one.
    """
    if count > variants:
        raise ValueError(f"{count} paraphrases need at least {count} rewordings a sentence, got {variants}")
    shifts = [rng.randrange(variants) for _ in range(sentences)]
    orders = _distinct_orders(rng, sentences, count) if reorder else [tuple(range(sentences))] * count
    return [Rendering(order, tuple(1 + (k + shift) % variants for shift in shifts)) for k, order in enumerate(orders)]


def _distinct_orders(rng: random.Random, sentences: int, count: int) -> list[tuple[int, ...]]:
    identity = tuple(range(sentences))
    orders: list[tuple[int, ...]] = []
    while len(orders) < count:
        order = tuple(rng.sample(identity, sentences))
        if order != identity and order not in orders:
            orders.append(order)
    return orders


def render(
    templates: Sequence[Sequence[str]], rendering: Rendering, subject: str, pronoun: str, values: Mapping[str, str]
) -> str:
    """The text: only the first sentence written names the subject, the others use ``pronoun``."""
    return " ".join(
        templates[index][rendering.variants[index]].format(s=subject if position == 0 else pronoun, **values)
        for position, index in enumerate(rendering.order)
    )


def rendered_documents(
    entities: Sequence[E],
    paraphrases: str,
    text: Callable[[E, Rendering], str],
    *,
    stream: str,
    sentences: int,
    rewordings: int,
    per_setting: int = PARAPHRASES_PER_SETTING,
) -> list[Document]:
    """Originals plus the chosen paraphrase set of texts rendered from sentence templates.

    An entity's paraphrases come from a stream seeded by ``stream`` (the world and its seed)
    and the entity's name, drawing the same-order set before the changed-order one whatever
    ``paraphrases`` asks for: an entity's paraphrases are the same whichever setting asks.
    """

    def paraphrased(entity: E) -> dict[str, list[str]]:
        rng = random.Random(f"{stream}/{entity.name}")
        same = paraphrase_renderings(rng, sentences, rewordings, per_setting, reorder=False)
        reordered = paraphrase_renderings(rng, sentences, rewordings, per_setting, reorder=True)
        return {
            "paraphrase_same": [text(entity, r) for r in same],
            "paraphrase_reordered": [text(entity, r) for r in reordered],
        }

    original = original_rendering(sentences)
    return documents_with_paraphrases(entities, paraphrases, lambda entity: text(entity, original), paraphrased)


def template_words(template: str) -> str:
    """A template with its placeholders removed: the fixed words it contributes to texts."""
    return re.sub(r"\{\w+\}", " ", template)


# --- the world ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """One fictitious person; ``triples`` are the attribute triples backward questions state."""

    name: str
    gender: Literal["female", "male"]
    birth_date: str
    birth_city: str
    university: str
    major: str
    company: str
    work_city: str
    triples: tuple[tuple[str, str, str], ...] = ()

    def value(self, attribute: str) -> str:
        return getattr(self, attribute)

    def values(self) -> dict[str, str]:
        """Everything a sentence template can refer to, the possessive pronoun included."""
        return {a: self.value(a) for a in ATTRIBUTES} | {"p": "her" if self.gender == "female" else "his"}

    @property
    def pronoun(self) -> str:
        return "She" if self.gender == "female" else "He"


_TEMPLATE_TABLE = [SENTENCES[a] for a in ATTRIBUTES]
_REWORDINGS = min(len(t) for t in _TEMPLATE_TABLE) - 1


@dataclass
class BiographyWorld(KnownNewSplit):
    """The known/new split of one seeded world."""

    corpus_name = "biography"
    train_templates = TRAIN_TEMPLATES
    test_templates = TEST_TEMPLATES

    seed: int
    known: list[Person]
    known_with_qa: list[Person]
    new: list[Person]

    def text(self, person: Person, rendering: Rendering) -> str:
        return render(_TEMPLATE_TABLE, rendering, person.name, person.pronoun, person.values())

    def documents(self, people: list[Person], paraphrases: str = "none") -> list[Document]:
        """Originals plus the chosen paraphrase set, each paraphrase its own document."""
        return rendered_documents(
            people,
            paraphrases,
            self.text,
            stream=f"biography/{self.seed}",
            sentences=len(ATTRIBUTES),
            rewordings=_REWORDINGS,
        )

    @staticmethod
    def questions(people: list[Person], templates: Templates) -> list[Question]:
        """Forward questions for all six attributes, then backward ones for each identifying triple."""
        questions = []
        for p in people:
            questions += [
                Question(t.format(n=p.name), p.value(a), GROUP, "N2D", "forward", p.name)
                for a in ATTRIBUTES
                for t in templates.forward[a]
            ]
            for triple in p.triples:
                clauses = dict(zip("abc", (CLAUSES[a].format(v=p.value(a)) for a in triple), strict=True))
                questions += [
                    Question(t.format(**clauses), p.name, GROUP, "D2N", "backward", p.name) for t in templates.backward
                ]
        return questions


def _unique_people(rng: random.Random, count: int) -> list[Person]:
    identities = [("female", f, la) for f in FEMALE_FIRST_NAMES for la in LAST_NAMES]
    identities += [("male", f, la) for f in MALE_FIRST_NAMES for la in LAST_NAMES]
    dates = [f"{m} {d} , {y}" for m in MONTHS for d in BIRTH_DAYS for y in BIRTH_YEARS]
    if count > len(identities):
        raise UserError(
            f"num_known + num_new is {count}, but the biography world can hold at most {len(identities)} people",
            where="data.world",
        )
    rng.shuffle(identities)
    people = []
    for (gender, first, last), birth_date in zip(identities[:count], rng.sample(dates, count), strict=True):
        birth_city, work_city = rng.sample(CITIES, 2)
        people.append(
            Person(
                name=f"{first} {last}",
                gender=gender,
                birth_date=birth_date,
                birth_city=birth_city,
                university=rng.choice(UNIVERSITIES),
                major=rng.choice(MAJORS),
                company=rng.choice(COMPANIES),
                work_city=work_city,
            )
        )
    return people


def _with_identifying_triples(rng: random.Random, people: list[Person]) -> list[Person]:
    """Each person with up to ``BACKWARD_PER_PERSON`` attribute triples no one else shares.

    The attributes of a triple are listed in a random order, as in the paper's questions.
    """
    triples = list(itertools.combinations(ATTRIBUTES, 3))
    counts = Counter((t, tuple(p.value(a) for a in t)) for p in people for t in triples)
    chosen = []
    for p in people:
        unique = [t for t in triples if counts[(t, tuple(p.value(a) for a in t))] == 1]
        picked = rng.sample(unique, min(BACKWARD_PER_PERSON, len(unique)))
        chosen.append(replace(p, triples=tuple(tuple(rng.sample(t, 3)) for t in picked)))
    return chosen


def build_world(seed: int, num_known: int, num_new: int, qa_fraction: float) -> BiographyWorld:
    """Generate the world deterministically from ``seed``."""
    rng = random.Random(seed)
    people = _with_identifying_triples(rng, _unique_people(rng, num_known + num_new))
    known, new = people[:num_known], people[num_known:]
    return BiographyWorld(seed=seed, known=known, known_with_qa=known[: round(num_known * qa_fraction)], new=new)


def vocabulary_texts() -> list[str]:
    """Every word the world can produce, for training the word-level tokenizer offline."""
    values = FEMALE_FIRST_NAMES + MALE_FIRST_NAMES + LAST_NAMES + CITIES + UNIVERSITIES + MAJORS + COMPANIES + MONTHS
    words = values + [str(d) for d in range(10)] + ["She", "He", "her", "his", ","]
    templates = [t for group in SENTENCES.values() for t in group] + list(CLAUSES.values())
    for table in (TRAIN_TEMPLATES, TEST_TEMPLATES):
        templates += [t for group in table.forward.values() for t in group] + list(table.backward)
    return [" ".join(words)] + [template_words(t) for t in templates]
