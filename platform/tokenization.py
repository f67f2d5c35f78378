"""Tokenizers: the embedded word-level one built offline, or a checkpoint's own; no model code.

Why a module apart from ``platform.models``: the sweep's checks need a tokenizer and a
checkpoint's config, not its weights, and the embedded default's tokenizer needs neither
torch nor transformers' model classes (``transformers.AutoTokenizer`` and ``AutoConfig`` import
torch: they are imported where a pretrained checkpoint is read). The driver of a sweep on the
embedded model then never imports torch, and every sweep starts seconds sooner.
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from platform.chat import INSTRUCTION_TEXTS
from platform.errors import UserError, first_line
from platform.spec import ModelSpec

SPECIAL_TOKENS = {
    "pad_token": "<pad>",
    "bos_token": "<bos>",
    "eos_token": "<eos>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
}
ROLE_TOKENS = ["<|user|>", "<|assistant|>", "<|end|>"]
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|> {{ message['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def build_word_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the world's vocabulary (short sequences, fast training)."""
    specials = list(SPECIAL_TOKENS.values()) + ROLE_TOKENS
    raw = Tokenizer(models.WordLevel(unk_token=SPECIAL_TOKENS["unk_token"]))
    # Digits are split so any number is representable; the decoder joins them back ("1 2" -> "12").
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    raw.decoder = decoders.Sequence(
        [decoders.WordPiece(prefix=" ", cleanup=False), decoders.Fuse(), decoders.Replace(Regex(r"(?<=\d) (?=\d)"), "")]
    )
    raw.train_from_iterator(list(texts) + list(INSTRUCTION_TEXTS), trainers.WordLevelTrainer(special_tokens=specials))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, **SPECIAL_TOKENS, additional_special_tokens=ROLE_TOKENS)
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.padding_side = "left"
    return tokenizer


def load_tokenizer(path: str, spec: ModelSpec) -> PreTrainedTokenizerBase:
    """The tokenizer of a checkpoint directory or hub id, left-padded, with a pad token."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=spec.trust_remote_code)
    except (OSError, ValueError) as error:  # missing files; files of no known tokenizer kind
        raise UserError(f"cannot load tokenizer: {first_line(error)}", where=f"model.path ({path})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def check_model(path: str, spec: ModelSpec) -> None:
    """On the driver, before any work: the model's config and tokenizer load (no weights read).

    A wrong ``model.path`` otherwise surfaces in every Ray Train worker, after Ray started.
    """
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(path, trust_remote_code=spec.trust_remote_code)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot load the model's config: {first_line(error)}", where=f"model.path ({path})") from None
    load_tokenizer(path, spec)


BIDIRECTIONAL_MODEL_TYPES = frozenset({"llada"})
"""Model types whose checkpoints are bidirectional whatever their config says (LLaDA's remote code)."""


def is_bidirectional_checkpoint(config) -> bool:
    """Whether a checkpoint was trained without a causal mask (a diffusion LM), from its config."""
    return (
        bool(getattr(config, "bidirectional", False))
        or getattr(config, "model_type", None) in BIDIRECTIONAL_MODEL_TYPES
    )


def mask_token_id(tokenizer: PreTrainedTokenizerBase, spec: ModelSpec, required: bool = True) -> int | None:
    """The reserved mask token: from the spec if named there, else the tokenizer's own.

    Objectives that never mask (``ar``) run on tokenizers without one (Llama): None then.
    """
    token = spec.mask_token or tokenizer.mask_token
    if token is None:
        if not required:
            return None
        raise UserError("the tokenizer has no mask token; set model.mask_token (e.g. a reserved special token)")
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise UserError(f"mask token {token!r} is not in the tokenizer's vocabulary", where="model.mask_token")
    return int(token_id)
