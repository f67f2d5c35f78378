"""A Wiki-style world: short encyclopedia paragraphs about fictitious towns, ships and societies.

Why it looks like this: the paper's Wiki set is the first sections of Wikipedia articles,
several facts a paragraph, with questions whose task is literally ``forward`` (a fact in the
order it is stated: the subject given, the object asked) or ``backward`` (the object given,
the subject asked). Real articles are beyond a tiny model and already known to large ones, so
this world writes five-sentence paragraphs of invented facts: region, founding year and
founder, what the entity is known for, its leader and its emblem. Only the first sentence
names the entity; the others say "It", as an article does.

Backward questions are asked only about facts whose object is unique in the whole world
(year, founder, leader, emblem): "Which town was founded in 1843 ?" must have one right
answer. Region and what an entity is known for are shared, so they are asked forward only.
Known/new split, distinct test templates and paraphrases follow the Biography world, whose
rendering helpers this module uses.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from platform.data.corpus import Document, Question
from platform.data.worlds.biography import (
    FEMALE_FIRST_NAMES,
    LAST_NAMES,
    MALE_FIRST_NAMES,
    Rendering,
    render,
    rendered_documents,
    template_words,
)
from platform.data.worlds.split import KnownNewSplit
from platform.errors import UserError

TOWN_PREFIXES = [
    "Ash",
    "Bracken",
    "Cold",
    "Dun",
    "Elm",
    "Fen",
    "Gull",
    "Hart",
    "Iron",
    "Kings",
    "Lark",
    "Marsh",
    "North",
    "Oak",
    "Pike",
    "Quarry",
    "Raven",
    "Stone",
    "Thorn",
    "Wolf",
]
TOWN_SUFFIXES = ["ford", "haven", "bury", "wick", "stead", "mere", "field", "moor"]
SHIP_ADJECTIVES = [
    "Restless",
    "Gallant",
    "Steadfast",
    "Valiant",
    "Dauntless",
    "Swift",
    "Fearless",
    "Noble",
    "Bold",
    "Intrepid",
]
SHIP_NOUNS = ["Dawn", "Tide", "Star", "Horizon", "Promise", "Venture", "Spirit", "Fortune", "Voyager", "Endeavour"]
SOCIETY_ADJECTIVES = ["Royal", "Free", "United", "Ancient", "Honest", "Worthy", "Loyal", "Grand", "Humble", "Learned"]
SOCIETY_TRADES = [
    "Weavers",
    "Masons",
    "Clockmakers",
    "Glassblowers",
    "Cartwrights",
    "Beekeepers",
    "Bookbinders",
    "Lamplighters",
    "Ropemakers",
    "Tanners",
]
REGIONS = [
    "Velmora",
    "Eastmarch",
    "Caldera",
    "Westerlin",
    "Orvanne",
    "Brisklund",
    "Tarrowmere",
    "Sundale",
    "Korrin",
    "Halvard",
    "Lowenreach",
    "Marrowick",
]
COLORS = [
    "silver",
    "golden",
    "scarlet",
    "azure",
    "emerald",
    "ivory",
    "crimson",
    "violet",
    "copper",
    "black",
    "white",
    "amber",
    "grey",
    "green",
    "blue",
]
ANIMALS = [
    "heron",
    "stag",
    "otter",
    "falcon",
    "badger",
    "swan",
    "wolf",
    "bear",
    "lion",
    "hare",
    "owl",
    "raven",
    "salmon",
    "boar",
    "fox",
    "eagle",
    "lynx",
    "dolphin",
    "horse",
    "crane",
    "serpent",
    "griffin",
    "unicorn",
    "dragon",
]
FEATURES = {
    "town": [
        "wool market",
        "stone bridge",
        "cider festival",
        "clock tower",
        "salt mines",
        "glass works",
        "horse fair",
        "lace makers",
        "copper mines",
        "rose gardens",
        "old abbey",
        "river port",
    ],
    "ship": [
        "speed",
        "red sails",
        "long voyages",
        "brass bell",
        "carved figurehead",
        "rescue missions",
        "polar expeditions",
        "tall masts",
        "cargo of spices",
        "fine charts",
    ],
    "society": [
        "annual lectures",
        "rare book collection",
        "winter ball",
        "public library",
        "charity work",
        "summer fair",
        "guild hall",
        "training school",
        "printed almanac",
        "choir",
    ],
}
KINDS = ("town", "ship", "society")
KIND_WORDS = {
    "town": {"kind": "town", "made": "founded", "role": "mayor"},
    "ship": {"kind": "ship", "made": "built", "role": "captain"},
    "society": {"kind": "society", "made": "founded", "role": "president"},
}
"""How a template speaks of each kind: what it is, how it came to be, who leads it."""
YEARS = range(1100, 2000)

GROUP = "Wiki"
SENTENCE_FACTS = (("region",), ("year", "founder"), ("feature",), ("leader",), ("emblem",))
"""The facts each sentence of a paragraph states, in paragraph order."""
FACTS = tuple(fact for sentence in SENTENCE_FACTS for fact in sentence)
BACKWARD_FACTS = ("year", "founder", "leader", "emblem")
"""Facts whose object is unique in the world, so the subject can be asked back from it."""
PARAPHRASES_PER_SETTING = 5

# Sentence templates in paragraph order: [0] writes the original, [1:] the paraphrases. {s}
# is the subject (the name in the first sentence, else "It"); each keeps subject before
# object, so a forward question always follows the order of the text.
SENTENCES: tuple[tuple[str, ...], ...] = (
    (
        "{s} is a {kind} in {region} .",
        "{s} is a {kind} located in {region} .",
        "{s} is a {kind} based in {region} .",
        "{s} is a {kind} found in the region of {region} .",
        "{s} is a {kind} that belongs to {region} .",
        "{s} is a {kind} situated in {region} .",
    ),
    (
        "{s} was {made} in {year} by {founder} .",
        "{s} was first {made} in {year} , by {founder} .",
        "{s} was {made} in the year {year} by {founder} .",
        "{s} dates from {year} , when it was {made} by {founder} .",
        "{s} was {made} back in {year} by {founder} .",
        "{s} has existed since {year} , when it was {made} by {founder} .",
    ),
    (
        "{s} is known for its {feature} .",
        "{s} is famous for its {feature} .",
        "{s} is well known for its {feature} .",
        "{s} is celebrated for its {feature} .",
        "{s} is noted for its {feature} .",
        "{s} draws visitors with its {feature} .",
    ),
    (
        "{s} has {leader} as its {role} .",
        "{s} is led by {leader} , its {role} .",
        "{s} counts {leader} as its {role} .",
        "{s} is headed by {leader} , who serves as its {role} .",
        "{s} names {leader} as its {role} .",
        "{s} is run by {leader} , its current {role} .",
    ),
    (
        "{s} has a {emblem} as its emblem .",
        "{s} bears a {emblem} as its emblem .",
        "{s} uses a {emblem} as its emblem .",
        "{s} shows a {emblem} on its emblem .",
        "{s} is represented by a {emblem} on its emblem .",
        "{s} carries a {emblem} as its emblem .",
    ),
)
_REWORDINGS = min(len(t) for t in SENTENCES) - 1


@dataclass(frozen=True)
class Templates:
    """Question templates per fact: forward over {s} (subject), backward over {o} (object)."""

    forward: Mapping[str, tuple[str, ...]]
    backward: Mapping[str, tuple[str, ...]]


TRAIN_TEMPLATES = Templates(
    forward={
        "region": ("Where is {s} ?", "In which region is {s} ?"),
        "year": ("When was {s} {made} ?", "In which year was {s} {made} ?"),
        "founder": ("Who {made} {s} ?", "By whom was {s} {made} ?"),
        "feature": ("What is {s} known for ?", "What is {s} famous for ?"),
        "leader": ("Who is the {role} of {s} ?", "Who leads {s} ?"),
        "emblem": ("What is the emblem of {s} ?", "What does {s} have as its emblem ?"),
    },
    backward={
        "year": ("Which {kind} was {made} in {o} ?", "What {kind} dates from {o} ?"),
        "founder": ("Which {kind} was {made} by {o} ?", "What {kind} did {o} create ?"),
        "leader": ("Which {kind} has {o} as its {role} ?", "What {kind} has {o} as {role} ?"),
        "emblem": ("Which {kind} has a {o} as its emblem ?", "What {kind} has the emblem of a {o} ?"),
    },
)
TEST_TEMPLATES = Templates(
    forward={
        "region": ("{s} is a {kind} in which region ?",),
        "year": ("{s} was {made} in which year ?",),
        "founder": ("{s} was {made} by whom ?",),
        "feature": ("For what is {s} best known ?",),
        "leader": ("Which person serves as the {role} of {s} ?",),
        "emblem": ("What is shown on the emblem of {s} ?",),
    },
    backward={
        "year": ("Name the {kind} that was {made} in {o} .",),
        "founder": ("{o} {made} which {kind} ?",),
        "leader": ("{o} is the {role} of which {kind} ?",),
        "emblem": ("A {o} is the emblem of which {kind} ?",),
    },
)


@dataclass(frozen=True)
class Entity:
    """One fictitious town, ship or society with its six facts."""

    name: str
    kind: str
    region: str
    year: str
    founder: str
    feature: str
    leader: str
    emblem: str

    def fact(self, fact: str) -> str:
        return getattr(self, fact)

    def values(self) -> dict[str, str]:
        """Everything a sentence or question template can refer to."""
        return {f: self.fact(f) for f in FACTS} | KIND_WORDS[self.kind]


@dataclass
class WikiWorld(KnownNewSplit):
    """The known/new split of one seeded world."""

    corpus_name = "wiki"
    train_templates = TRAIN_TEMPLATES
    test_templates = TEST_TEMPLATES

    seed: int
    known: list[Entity]
    known_with_qa: list[Entity]
    new: list[Entity]

    @staticmethod
    def text(entity: Entity, rendering: Rendering) -> str:
        return render(SENTENCES, rendering, entity.name, "It", entity.values())

    def documents(self, entities: list[Entity], paraphrases: str = "none") -> list[Document]:
        """Originals plus the chosen paraphrase set, each paraphrase its own document."""
        return rendered_documents(
            entities,
            paraphrases,
            self.text,
            stream=f"wiki/{self.seed}",
            sentences=len(SENTENCES),
            rewordings=_REWORDINGS,
            per_setting=PARAPHRASES_PER_SETTING,
        )

    @staticmethod
    def questions(entities: list[Entity], templates: Templates) -> list[Question]:
        """A forward question for every fact, a backward one for every fact unique in the world."""
        questions = []
        for e in entities:
            words = KIND_WORDS[e.kind]
            questions += [
                Question(t.format(s=e.name, **words), e.fact(f), GROUP, "forward", "forward", e.name)
                for f in FACTS
                for t in templates.forward[f]
            ]
            questions += [
                Question(t.format(o=e.fact(f), **words), e.name, GROUP, "backward", "backward", e.name)
                for f in BACKWARD_FACTS
                for t in templates.backward[f]
            ]
        return questions


def _names(kind: str) -> list[str]:
    if kind == "town":
        return [p + s for p in TOWN_PREFIXES for s in TOWN_SUFFIXES]
    if kind == "ship":
        return [f"{a} {n}" for a in SHIP_ADJECTIVES for n in SHIP_NOUNS]
    return [f"{a} {t} Society" for a in SOCIETY_ADJECTIVES for t in SOCIETY_TRADES]


def capacity() -> int:
    """The most entities a world can hold with every backward-asked object unique."""
    per_kind = min(len(_names(k)) for k in KINDS) * len(KINDS)
    people = (len(FEMALE_FIRST_NAMES) + len(MALE_FIRST_NAMES)) * len(LAST_NAMES) // 2  # founder + leader
    return min(per_kind, people, len(YEARS), len(COLORS) * len(ANIMALS))


def _unique_entities(rng: random.Random, count: int) -> list[Entity]:
    if count > capacity():
        raise UserError(
            f"num_known + num_new is {count}, but the wiki world can hold at most {capacity()} entities",
            where="data.world",
        )
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    names = {k: rng.sample(_names(k), kinds.count(k)) for k in KINDS}
    people = rng.sample([f"{f} {la}" for f in FEMALE_FIRST_NAMES + MALE_FIRST_NAMES for la in LAST_NAMES], 2 * count)
    years = rng.sample(YEARS, count)
    emblems = rng.sample([f"{c} {a}" for c in COLORS for a in ANIMALS], count)
    return [
        Entity(
            name=names[kind].pop(),
            kind=kind,
            region=rng.choice(REGIONS),
            year=str(years[i]),
            founder=people[2 * i],
            feature=rng.choice(FEATURES[kind]),
            leader=people[2 * i + 1],
            emblem=emblems[i],
        )
        for i, kind in enumerate(kinds)
    ]


def build_world(seed: int, num_known: int, num_new: int, qa_fraction: float) -> WikiWorld:
    """Generate the world deterministically from ``seed``."""
    entities = _unique_entities(random.Random(seed), num_known + num_new)
    known, new = entities[:num_known], entities[num_known:]
    return WikiWorld(seed=seed, known=known, known_with_qa=known[: round(num_known * qa_fraction)], new=new)


def vocabulary_texts() -> list[str]:
    """Every word the world can produce, for training the word-level tokenizer offline."""
    names = [n for k in KINDS for n in _names(k)]
    words = names + FEMALE_FIRST_NAMES + MALE_FIRST_NAMES + LAST_NAMES + REGIONS + COLORS + ANIMALS
    words += [f for features in FEATURES.values() for f in features]
    words += [w for kind_words in KIND_WORDS.values() for w in kind_words.values()]
    words += [str(d) for d in range(10)] + ["It", "it", ","]
    templates = [t for sentence in SENTENCES for t in sentence]
    for table in (TRAIN_TEMPLATES, TEST_TEMPLATES):
        for group in (*table.forward.values(), *table.backward.values()):
            templates += group
    return [" ".join(words)] + [template_words(t) for t in templates]
