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

from platform.errors import UserError, first_line

# The paper's fixed instruction texts (docs/method.md), one place for each.
MASKED_PASSAGE_INSTRUCTION = "Return the recovered masked passage."
RECOVERED_PREFIX = "Here is the recovered text:\n\n"
MASKED_ANSWER_INSTRUCTION = "Return the recovered masked answer."
FACT_REQUEST = "Tell me a fact."
INSTRUCTION_TEXTS = (
    MASKED_PASSAGE_INSTRUCTION,
    RECOVERED_PREFIX,
    MASKED_ANSWER_INSTRUCTION,
    FACT_REQUEST,
    "Question: Answer:",
)

_SENTINELS = tuple(f"\u2063SENTINEL{i}\u2063" for i in range(3))
NO_SYSTEM_PROMPT = "none"
TEMPLATE_SYSTEM_PROMPT = "template"


@dataclass(frozen=True)
class ChatFormat:
    """Token ids of the template around one user turn and one assistant turn."""

    user_prefix: tuple[int, ...]
    """Everything before the user's content (BOS, the system turn if there is one, the user header)."""
    assistant_header: tuple[int, ...]
    """From the end of the user's content to the start of the assistant's content."""
    end_of_turn: tuple[int, ...]
    """What closes the assistant turn (e.g. <|eot_id|>, <|im_end|>): trained, so generation stops."""

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase, system_prompt: str = NO_SYSTEM_PROMPT) -> ChatFormat:
        """The layout of the tokenizer's own chat template, with ``system_prompt`` as the system turn.

        ``none`` (the default, as the paper's prompts): no system turn, even where the template
        adds a default one when the conversation has none (SmolLM2, Qwen2.5, Llama 3.1's date
        block). The user header is then read off a *later* user turn, which no template gives
        a system turn, and the sequence keeps only the template's BOS text. ``template``: what
        the template renders for a conversation without a system message. Any other text: that
        text as the system message.
        """
        first, second, third = _SENTINELS
        user, assistant = {"role": "user", "content": first}, {"role": "assistant", "content": second}

        def render(messages: list[dict[str, str]], generation_prompt: bool) -> str:
            try:
                return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
            except Exception as error:  # no template (a base model), or one that refuses this turn
                where = "model.system_prompt" if messages[0]["role"] == "system" else "model.path"
                raise UserError(
                    f"the tokenizer's chat template cannot render this conversation: {first_line(error)}", where=where
                ) from None

        before_user, after_user = render([user], True).split(first)
        end_of_turn = render([user, assistant], False).split(second)[1]
        if system_prompt == NO_SYSTEM_PROMPT:
            later_turn = render([user, assistant, {"role": "user", "content": third}], True)
            between = later_turn.split(second)[1].split(third)[0]
            if tokenizer.eos_token and not between.startswith(end_of_turn):  # EOS only at the very end (Phi-3)
                end_of_turn = end_of_turn.rstrip("\n").removesuffix(tokenizer.eos_token)
            if not between.startswith(end_of_turn):
                raise UserError(
                    "the chat template's turns do not repeat, so a prompt without its system turn cannot be derived; "
                    "set 'template' or a system text",
                    where="model.system_prompt",
                )
            user_header = between[len(end_of_turn) :].lstrip("\n")
            before_user = _bos_text(tokenizer, before_user, user_header) + user_header
        elif system_prompt != TEMPLATE_SYSTEM_PROMPT:
            before_user = render([{"role": "system", "content": system_prompt}, user], True).split(first)[0]
        encode = _encoder(tokenizer)
        return cls(tuple(encode(before_user)), tuple(encode(after_user)), tuple(encode(end_of_turn.rstrip("\n")) or ()))


def _bos_text(tokenizer: PreTrainedTokenizerBase, first_prefix: str, user_header: str) -> str:
    """The BOS text a template puts before the first turn (Llama's <|begin_of_text|>), or "".

    A BOS token that also opens every turn (SmolLM2's <|im_start|>) is part of the header.
    """
    bos = tokenizer.bos_token
    if bos and first_prefix.startswith(bos) and not user_header.startswith(bos):
        return bos
    return ""


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


def qa_ids(
    tokenizer: PreTrainedTokenizerBase, chat: ChatFormat, question: str, answer: str
) -> tuple[list[int], list[int]]:
    """(prompt, completion) ids of a supervised QA pair; the completion ends the turn."""
    return prompt_ids(tokenizer, chat, question), [*encode_text(tokenizer, answer), *chat.end_of_turn]
