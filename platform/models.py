"""Models: the embedded tiny one built offline, or Hugging Face checkpoints (tokenizers are
``platform.tokenization``'s).

Why build the tiny tokenizer with ``tokenizers`` and wrap it as ``PreTrainedTokenizerFast``,
and the tiny model with ``LlamaConfig``: every later step (chat template, save/load,
generation, DeepSpeed) then uses the same Hugging Face classes a real 8B model would, so
the CPU default exercises the production code path.
"""

from __future__ import annotations

import inspect
from functools import cache

import torch
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from platform.errors import UserError, first_line
from platform.spec import ModelSpec, TinyModelConfig
from platform.tokenization import load_tokenizer


def build_tiny_model(config: TinyModelConfig, tokenizer: PreTrainedTokenizerBase, seed: int) -> LlamaForCausalLM:
    """A small Llama from config: same classes as production, trains in minutes on a CPU."""
    torch.manual_seed(seed)
    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        max_position_embeddings=config.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(llama)


def load_pretrained(
    path: str, spec: ModelSpec, dtype_name: str | None = None
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Load a checkpoint directory or hub id; remote code runs only if the spec asks for it.

    Weights in ``dtype_name`` (default: ``spec.dtype``). A remote-code model that registers
    only ``AutoModel`` (LLaDA) is loaded through it.
    """
    tokenizer = load_tokenizer(path, spec)
    dtype = torch.bfloat16 if (dtype_name or spec.dtype) == "bfloat16" else torch.float32
    try:
        try:
            model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=spec.trust_remote_code, dtype=dtype)
        except ValueError as error:  # "Unrecognized configuration class ... for AutoModelForCausalLM"
            if not (spec.trust_remote_code and "AutoModelForCausalLM" in str(error)):
                raise
            model = AutoModel.from_pretrained(
                path, trust_remote_code=spec.trust_remote_code, dtype=dtype
            )  # its own code, LM head included
    except (OSError, ValueError) as error:
        raise UserError(f"cannot load model: {first_line(error)}", where=f"model.path ({path})") from None
    return tokenizer, model


def set_bidirectional(model: PreTrainedModel) -> None:
    """Turn off the causal mask of every attention module (masked diffusion / LLaDA-style).

    transformers 5 also needs a 4D padding mask at call time: see ``attention_mask_for``.
    """
    for module in model.modules():
        if hasattr(module, "is_causal"):
            module.is_causal = False
    model.config.bidirectional = True


def attention_mask_for(model: PreTrainedModel, padding_mask: torch.Tensor) -> torch.Tensor:
    """The mask to pass the model: 2D for causal models, 4D boolean for bidirectional ones.

    Only transformers' own classes get the 4D mask (without it they stay causal); a
    remote-code model (LLaDA, in ``transformers_modules``) gets the 2D padding mask it takes.
    """
    if not getattr(model.config, "bidirectional", False) or not type(model).__module__.startswith("transformers."):
        return padding_mask
    keep = padding_mask.bool()
    return (keep[:, None, None, :] & keep[:, None, :, None]) | torch.eye(
        keep.shape[1], dtype=torch.bool, device=keep.device
    )[None, None]


def model_inputs(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    padding_mask: torch.Tensor,
    position_ids: torch.Tensor | None = None,
) -> dict[str, torch.Tensor | bool]:
    """Keyword arguments of one forward call, limited to what the model's ``forward`` takes.

    Why: remote-code models differ from transformers' own. LLaDA's forward takes no
    ``position_ids`` and ignores its padding mask (padding is visible to it, as in its own
    training recipe) and needs ``use_cache=False``. ``model`` is the unwrapped module.
    """
    accepted = _forward_parameters(type(model))
    inputs: dict[str, torch.Tensor | bool] = {"input_ids": input_ids}
    if "attention_mask" in accepted:
        inputs["attention_mask"] = attention_mask_for(model, padding_mask)
    if position_ids is not None and "position_ids" in accepted:
        inputs["position_ids"] = position_ids
    if "use_cache" in accepted:
        inputs["use_cache"] = False
    return inputs


@cache
def _forward_parameters(model_type: type) -> frozenset[str]:
    return frozenset(inspect.signature(model_type.forward).parameters)
