"""Chat formatting at the token level: the one place that knows how a turn is laid out.

Why token level: the masked objectives replace *document tokens* inside the user turn and put
loss on exactly the document tokens of the assistant turn, so every piece (turn headers, the
instruction line, the document) must be encoded separately and concatenated. The pieces come
from the tokenizer's own chat template (Llama, Qwen or the tiny tokenizer), rendered once
around a sentinel, so no template is hard-coded here.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

# The paper's fixed instruction texts (METHOD.md), one place for each.
MASKED_PASSAGE_INSTRUCTION = "Return the recovered masked passage."
RECOVERED_PREFIX = "Here is the recovered text:\n\n"
MASKED_ANSWER_INSTRUCTION = "Return the recovered masked answer."
FACT_REQUEST = "Tell me a fact."
INSTRUCTION_TEXTS = (MASKED_PASSAGE_INSTRUCTION, RECOVERED_PREFIX, MASKED_ANSWER_INSTRUCTION, FACT_REQUEST, "Question: Answer:")

_SENTINEL = "\u2063SENTINEL\u2063"


@dataclass(frozen=True)
class ChatFormat:
    """Token ids of the template around one user turn and one assistant turn."""

    user_prefix: tuple[int, ...]
    """Everything before the user's content (BOS, system header if the template adds one)."""
    assistant_header: tuple[int, ...]
    """From the end of the user's content to the start of the assistant's content."""
    end_of_turn: tuple[int, ...]
    """What closes the assistant turn (e.g. <|eot_id|>): trained, so generation stops."""

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase) -> ChatFormat:
        user_only = tokenizer.apply_chat_template(
            [{"role": "user", "content": _SENTINEL}], tokenize=False, add_generation_prompt=True
        )
        both = tokenizer.apply_chat_template(
            [{"role": "user", "content": _SENTINEL}, {"role": "assistant", "content": _SENTINEL}],
            tokenize=False,
        )
        before, after_user = user_only.split(_SENTINEL)
        after_assistant = both.split(_SENTINEL)[2]
        encode = _encoder(tokenizer)
        return cls(tuple(encode(before)), tuple(encode(after_user)), tuple(encode(after_assistant.rstrip("\n")) or ()))


def _encoder(tokenizer: PreTrainedTokenizerBase):
    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"] if text.strip() else []

    return encode


def encode_text(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Plain text to ids with no special tokens added (pieces are assembled by the caller)."""
    return _encoder(tokenizer)(text)


def prompt_ids(tokenizer: PreTrainedTokenizerBase, chat: ChatFormat, question: str) -> list[int]:
    """A QA prompt as the paper asks it: one user turn, no system prompt, generation header."""
    return [*chat.user_prefix, *encode_text(tokenizer, question), *chat.assistant_header]


def qa_ids(tokenizer: PreTrainedTokenizerBase, chat: ChatFormat, question: str, answer: str) -> tuple[list[int], list[int]]:
    """(prompt, completion) ids of a supervised QA pair; the completion ends the turn."""
    return prompt_ids(tokenizer, chat, question), [*encode_text(tokenizer, answer), *chat.end_of_turn]
