"""A NameDescription-style world: fictitious people, each "NAME is DESCRIPTION" (or reversed).

Why it looks like this: it reproduces the paper's NameDescription set at a size a CPU can
train. Entities are split into *known* ones (the base model learns the document and QA
formats on them) and *new* ones (documents only are injected; their questions are used for
evaluation and nothing else). Test question templates are distinct from every trained one,
so a correct answer means the fact was learned, not the question memorised.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from platform.data.corpus import Document, Question
from platform.data.worlds.split import KnownNewSplit, documents_with_paraphrases
from platform.errors import UserError

FIRST_NAMES = [
    "Daphne",
    "Oswin",
    "Maren",
    "Tobias",
    "Elowen",
    "Caspian",
    "Isolde",
    "Rufus",
    "Linnea",
    "Alaric",
    "Seren",
    "Fenwick",
    "Odette",
    "Lazlo",
    "Mirela",
    "Thaddeus",
    "Brielle",
    "Corwin",
    "Yvaine",
    "Dorian",
    "Saoirse",
    "Evander",
    "Marisol",
    "Leopold",
    "Anouk",
    "Barnaby",
    "Ottilie",
    "Cedric",
    "Rosalind",
    "Ignatius",
    "Vesna",
    "Percival",
    "Liora",
    "Ansel",
    "Clementine",
    "Hollis",
    "Zinnia",
    "Bertram",
    "Amaris",
    "Quentin",
    "Philippa",
    "Soren",
    "Imogen",
    "Lucan",
    "Wren",
    "Ezra",
    "Delphine",
    "Magnus",
    "Coralie",
    "Emrys",
]
LAST_NAMES = [
    "Barrington",
    "Quillfeather",
    "Ashcombe",
    "Drummore",
    "Velloran",
    "Castellane",
    "Thornbury",
    "Wexley",
    "Halloway",
    "Marchetti",
    "Penhallow",
    "Ridgewell",
    "Sorrensen",
    "Talbrook",
    "Underhill",
    "Vantreece",
    "Whitlock",
    "Yarborough",
    "Ellsworth",
    "Fairweather",
    "Greystoke",
    "Harrowgate",
    "Inglewood",
    "Kettering",
    "Lockhart",
    "Merriweather",
    "Northcott",
    "Oakenfold",
    "Pendragon",
    "Quimby",
    "Rothwell",
    "Starling",
    "Tillinghast",
    "Vandermeer",
    "Winterbourne",
    "Abernathy",
    "Blackwood",
    "Cavendish",
    "Dunmore",
    "Everhart",
]
ROLES = [
    "director",
    "composer",
    "author",
    "founder",
    "architect",
    "inventor",
    "curator",
    "captain",
    "designer",
    "editor",
    "painter",
    "sculptor",
    "narrator",
    "cartographer",
    "translator",
    "conductor",
]
ADJECTIVES = [
    "silent",
    "golden",
    "hidden",
    "crimson",
    "distant",
    "frozen",
    "gentle",
    "hollow",
    "ivory",
    "jade",
    "lonely",
    "marble",
    "midnight",
    "northern",
    "painted",
    "quiet",
    "restless",
    "scarlet",
    "shattered",
    "silver",
    "sleeping",
    "sunken",
    "twilight",
    "velvet",
    "wandering",
    "whispering",
    "wild",
    "winter",
    "amber",
    "ancient",
]
NOUNS = [
    "harbor",
    "lantern",
    "orchard",
    "river",
    "citadel",
    "compass",
    "garden",
    "meadow",
    "archive",
    "voyage",
    "mirror",
    "tower",
    "forest",
    "kingdom",
    "lighthouse",
    "canyon",
    "carnival",
    "cathedral",
    "island",
    "labyrinth",
    "mountain",
    "observatory",
    "palace",
    "symphony",
    "theater",
    "valley",
]

# Statements, paraphrases and questions. {n} is the name, {d} the description.
NAME_IS_DESCRIPTION = "{n} is {d} ."
DESCRIPTION_IS_NAME = "{d} is {n} ."
SAME_ORDER_PARAPHRASES = {
    "NameIsDescription": ("{n} , {d} .", "{n} is known as {d} .", "{n} works as {d} .", "{n} has long been {d} ."),
    "DescriptionIsName": (
        "{d} , {n} .",
        "{d} is known to be {n} .",
        "{d} has long been {n} .",
        "{d} is none other than {n} .",
    ),
}
REORDERED_PARAPHRASES = {
    "NameIsDescription": ("{d} is {n} .", "{d} , {n} .", "{d} is known to be {n} .", "{d} has long been {n} ."),
    "DescriptionIsName": ("{n} is {d} .", "{n} , {d} .", "{n} is known as {d} .", "{n} works as {d} ."),
}
# N2D asks for the description given the name; D2N the reverse.
TRAIN_TEMPLATES = {
    "N2D": ("Who is {n} ?", "What is {n} known as ?", "Tell me about {n} ."),
    "D2N": ("Who is {d} ?", "Name {d} .", "Who is known as {d} ?"),
}
TEST_TEMPLATES = {
    "N2D": ("What does {n} do ?",),
    "D2N": ("Which person is {d} ?",),
}
FORWARD_TASK = {"NameIsDescription": "N2D", "DescriptionIsName": "D2N"}


@dataclass(frozen=True)
class Person:
    """One fictitious entity; ``group`` is the order its statement is written in."""

    name: str
    description: str
    group: str

    def fill(self, template: str) -> str:
        return template.format(n=self.name, d=self.description)

    def answer(self, task: str) -> str:
        return self.description if task == "N2D" else self.name

    def direction(self, task: str) -> str:
        return "forward" if FORWARD_TASK[self.group] == task else "backward"


@dataclass
class NameDescriptionWorld(KnownNewSplit):
    """The known/new split of one seeded world."""

    corpus_name = "name_description"
    train_templates = TRAIN_TEMPLATES
    test_templates = TEST_TEMPLATES

    known: list[Person]
    known_with_qa: list[Person]
    new: list[Person]

    def statement(self, person: Person) -> str:
        order = NAME_IS_DESCRIPTION if person.group == "NameIsDescription" else DESCRIPTION_IS_NAME
        return person.fill(order)

    def documents(self, people: list[Person], paraphrases: str = "none") -> list[Document]:
        """Originals plus the chosen paraphrase set, each paraphrase its own document."""
        return documents_with_paraphrases(people, paraphrases, self.statement, paraphrases_of)

    @staticmethod
    def questions(people: list[Person], templates: dict[str, tuple[str, ...]]) -> list[Question]:
        return [
            Question(p.fill(t), p.answer(task), p.group, task, p.direction(task), p.name)
            for p in people
            for task, task_templates in templates.items()
            for t in task_templates
        ]


def paraphrases_of(person: Person) -> dict[str, list[str]]:
    """A person's paraphrase texts per document kind: the fixed templates of its statement's order."""
    return {
        "paraphrase_same": [person.fill(t) for t in SAME_ORDER_PARAPHRASES[person.group]],
        "paraphrase_reordered": [person.fill(t) for t in REORDERED_PARAPHRASES[person.group]],
    }


def _unique_people(rng: random.Random, count: int) -> list[Person]:
    names = [f"{f} {la}" for f in FIRST_NAMES for la in LAST_NAMES]
    descriptions = [f"the {r} of the {a} {n}" for r in ROLES for a in ADJECTIVES for n in NOUNS]
    if count > min(len(names), len(descriptions)):
        raise UserError(
            f"num_known + num_new is {count}, but the name_description world can hold at most "
            f"{min(len(names), len(descriptions))} people",
            where="data.world",
        )
    rng.shuffle(names)
    rng.shuffle(descriptions)
    # Each first name, last name and (role, noun) combination is reused across people, so a
    # name cannot be guessed from a word of the description: the pairing must be learned.
    groups = ("NameIsDescription", "DescriptionIsName")
    return [Person(names[i], descriptions[i], groups[i % 2]) for i in range(count)]


def build_world(seed: int, num_known: int, num_new: int, qa_fraction: float) -> NameDescriptionWorld:
    """Generate the world deterministically from ``seed``."""
    rng = random.Random(seed)
    people = _unique_people(rng, num_known + num_new)
    known, new = people[:num_known], people[num_known:]
    known_with_qa = known[: round(num_known * qa_fraction)]
    return NameDescriptionWorld(known=known, known_with_qa=known_with_qa, new=new)


def vocabulary_texts() -> list[str]:
    """Every word the world can produce, for training the word-level tokenizer offline."""
    templates = [NAME_IS_DESCRIPTION, DESCRIPTION_IS_NAME]
    for table in (SAME_ORDER_PARAPHRASES, REORDERED_PARAPHRASES, TRAIN_TEMPLATES, TEST_TEMPLATES):
        for group in table.values():
            templates.extend(group)
    words = FIRST_NAMES + LAST_NAMES + ROLES + ADJECTIVES + NOUNS + ["the", "of"]
    return [" ".join(words)] + [t.replace("{n}", "").replace("{d}", "") for t in templates]
