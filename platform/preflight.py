"""Checks that need the model's tokenizer and the data, run on the driver before any work.

Why here and not in the trial: a mask token that appears in the documents, an objective that
needs a paraphrase file the data does not have, or a causal checkpoint given to a
bidirectional objective would otherwise fail (or, worse, silently train wrong) inside every
trial, after Ray started and the base model was built. Each grid cell's resolved spec is
encoded exactly as its trial will encode it (the same objective, options and corpus), which
costs a tokenizer pass over the corpus.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from objectives.base import Example, Objective
from objectives.registry import instantiate, load_reference
from platform.chat import INSTRUCTION_TEXTS, encode_text
from platform.data.corpus import Corpus
from platform.data.sources import load_corpus
from platform.errors import UserError
from platform.spec import ExperimentSpec
from platform.tokenization import is_bidirectional_checkpoint


def check_cells(cell_specs: Sequence[ExperimentSpec], refs: dict[str, str], model_dir: str | None) -> None:
    """Every distinct (objective, options, data) of the sweep, on the tokenizer trials will use.

    ``model_dir`` is the pretrained checkpoint (None for the embedded model, whose word-level
    tokenizer is rebuilt here exactly as the base stage builds it).
    """
    tokenizer = _tokenizer(cell_specs[0], model_dir)
    seen: set[str] = set()
    for spec in cell_specs:
        key = spec.objective.model_dump_json() + spec.data.model_dump_json() + spec.model.model_dump_json()
        if key in seen:
            continue
        seen.add(key)
        objective_cls = load_reference(refs[spec.objective.name])
        if objective_cls.bidirectional and model_dir is not None:
            check_bidirectional_checkpoint(spec, model_dir)
        objective = instantiate(objective_cls, tokenizer, spec)
        corpus = load_corpus(spec.data, objective.paraphrases)
        check_mask_token_unused(objective, objective.encode(corpus), corpus)


def _tokenizer(spec: ExperimentSpec, model_dir: str | None):
    if model_dir is None:
        from platform.data.worlds import vocabulary_texts
        from platform.tokenization import build_word_tokenizer

        return build_word_tokenizer(vocabulary_texts())
    from platform.tokenization import load_tokenizer

    return load_tokenizer(model_dir, spec.model)


def check_bidirectional_checkpoint(spec: ExperimentSpec, model_dir: str) -> None:
    """A bidirectional objective needs a bidirectionally trained checkpoint, unless the spec says
    that turning a causal one bidirectional is meant (``model.causal_to_bidirectional``)."""
    from transformers import AutoConfig

    if spec.model.causal_to_bidirectional:
        return
    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=spec.model.trust_remote_code)
    if not is_bidirectional_checkpoint(config):
        raise UserError(
            f"objective {spec.objective.name!r} needs a model trained bidirectionally (a masked diffusion LM such as "
            f"LLaDA), but {model_dir} is a causal {config.model_type!r} checkpoint; use such a model, or set "
            "model.causal_to_bidirectional: true if training this causal model without its causal mask is meant",
            where="model",
        )


def check_mask_token_unused(objective: Objective, examples: Iterable[Example], corpus: Corpus) -> None:
    """The mask token must mean "masked" only: refused where the data or the chat text has it.

    A reserved token that also occurs in a document (or in the template's own text, or the
    fixed instructions) would make masked and unmasked positions indistinguishable.
    """
    context = objective.ctx
    mask_id = context.mask_token_id
    if mask_id is None:
        return
    tokenizer = context.tokenizer
    token = tokenizer.convert_ids_to_tokens(mask_id)
    where = "model.mask_token"
    chat = context.chat
    if mask_id in (*chat.user_prefix, *chat.assistant_header, *chat.end_of_turn) or token in (
        tokenizer.chat_template or ""
    ):
        raise UserError(
            f"the mask token {token!r} occurs in the chat template's own text; name another reserved token", where=where
        )
    for text in INSTRUCTION_TEXTS:
        if mask_id in encode_text(tokenizer, text):
            raise UserError(
                f"the mask token {token!r} occurs in the instruction {text!r}; name another reserved token", where=where
            )
    for example in examples:
        if mask_id in example.ids or mask_id in example.context:
            shown = tokenizer.decode([*example.context, *example.ids])[:80]
            raise UserError(
                f"the mask token {token!r} occurs in the training data (example {example.example_id}: {shown!r}); "
                "name a reserved token that never appears in the data",
                where=where,
            )
    for question in corpus.questions:
        if mask_id in encode_text(tokenizer, question.question):
            raise UserError(f"the mask token {token!r} occurs in the question {question.question[:80]!r}", where=where)
