"""A checkpoint with its own modelling code (``trust_remote_code``), laid out like LLaDA-8B's.

The stand-in (``tests/fixtures/remote_llada``) mirrors what the platform meets on
``GSAI-ML/LLaDA-8B-Instruct``: classes found only through ``config.json``'s ``auto_map``, a
forward that takes no ``position_ids``, ignores its padding mask, sees the whole sequence
both ways, and fails on a 4D mask the way LLaDA's does. No download, no Ray.
"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

from tests.fixtures.remote_llada.build import (
    AUTO_MAP,
    MASK_TOKEN,
    REMOTE_FILES,
    build_remote_checkpoint,
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_remote_checkpoint(tmp_path_factory.mktemp("remote_llada"), seed=0)


@pytest.fixture(scope="module")
def model(checkpoint):
    return AutoModel.from_pretrained(checkpoint, trust_remote_code=True).eval()


def ids(*tokens: int) -> torch.Tensor:
    return torch.tensor([list(tokens)])


def test_directory_is_laid_out_like_the_hub_repo(checkpoint):
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["auto_map"] == AUTO_MAP
    assert list(config["auto_map"]) == [
        "AutoConfig",
        "AutoModelForCausalLM",
        "AutoModel",
    ]  # LLaDA's order
    assert config["architectures"] == ["TinyLLaDAModelLM"] and config["model_type"] == "tinyllada"
    assert config["use_cache"] is False
    for name in REMOTE_FILES:
        assert (checkpoint / name).is_file()


def test_remote_classes_load_from_the_checkpoint(checkpoint, model):
    config = AutoConfig.from_pretrained(checkpoint, trust_remote_code=True)
    assert type(config).__name__ == "TinyLLaDAConfig"
    assert type(model).__name__ == "TinyLLaDAModelLM"
    # Imported from the checkpoint's copy (transformers' modules cache), not from tests/.
    assert type(model).__module__.startswith("transformers_modules.")
    # The platform's loader asks for AutoModelForCausalLM: auto_map maps it to the same class.
    causal = AutoModelForCausalLM.from_pretrained(checkpoint, trust_remote_code=True)
    assert type(causal).__name__ == "TinyLLaDAModelLM"
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), causal.state_dict().values(), strict=True)
    )


@pytest.mark.parametrize("auto_class", [AutoConfig, AutoModel, AutoModelForCausalLM])
def test_refused_without_trust_remote_code(checkpoint, auto_class):
    with pytest.raises(ValueError, match="custom code"):
        auto_class.from_pretrained(checkpoint, trust_remote_code=False)


def test_tokenizer_mask_token_is_the_models(checkpoint, model):
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=True)
    assert tokenizer.mask_token == MASK_TOKEN
    assert tokenizer.mask_token_id == tokenizer.convert_tokens_to_ids(MASK_TOKEN) == model.config.mask_token_id
    assert model.config.vocab_size == len(tokenizer)


@torch.no_grad()
def test_forward_ignores_the_padding_mask(model):
    x = ids(3, 4, 5, 6, 7)
    plain = model(input_ids=x).logits
    hidden_first = model(input_ids=x, attention_mask=torch.tensor([[0, 1, 1, 1, 1]])).logits
    assert plain.shape == (1, 5, model.config.vocab_size)
    assert torch.equal(plain, hidden_first)


@torch.no_grad()
def test_attention_is_bidirectional(model):
    before = model(input_ids=ids(3, 4, 5, 6, 7)).logits
    after = model(input_ids=ids(3, 4, 5, 6, 8)).logits
    assert not torch.allclose(before[:, 0], after[:, 0])  # the first position sees the last token


@torch.no_grad()
def test_calls_llada_refuses(model):
    x = ids(3, 4, 5, 6, 7)
    with pytest.raises(TypeError, match="position_ids"):
        model(input_ids=x, position_ids=torch.arange(5)[None])
    with pytest.raises(AssertionError, match="kvcache"):
        model(input_ids=x, use_cache=True)
    padded_4d = torch.ones(1, 1, 5, 5, dtype=torch.bool)
    padded_4d[..., 0] = False  # the 4D bidirectional padding mask of platform.models.attention_mask_for
    with pytest.raises(RuntimeError, match="must match"):
        model(input_ids=x, attention_mask=padded_4d)
    assert torch.equal(
        model(input_ids=x, attention_mask=torch.ones(1, 1, 5, 5, dtype=torch.bool)).logits,
        model(input_ids=x).logits,
    )


def test_trains(model, checkpoint):
    trainable = AutoModel.from_pretrained(checkpoint, trust_remote_code=True).train()
    x = ids(3, 4, model.config.mask_token_id, 6, 7)
    logits = trainable(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False).logits
    torch.nn.functional.cross_entropy(logits[0, 2:3], torch.tensor([5])).backward()
    assert all(p.grad is not None for p in trainable.parameters())


# -- the platform's path: spec -> preflight -> load -> train -> sample -> tags -------------------


def remote_spec(checkpoint, **model):
    from platform.spec import validate

    return validate(
        {
            "model": {
                "source": "huggingface",
                "path": str(checkpoint),
                "trust_remote_code": True,
                "mask_token": MASK_TOKEN,
                **model,
            },
            "objective": {"name": "masked_diffusion", "steps": 4, "gen_length": 4, "block_length": 2},
        },
        "test",
    )


def test_platform_trains_and_samples_the_remote_model(checkpoint):
    import numpy as np

    from objectives.conformance import tiny_corpus
    from objectives.registry import instantiate, resolve
    from objectives.registry import load_reference as load
    from platform.data.stream import collate
    from platform.models import load_pretrained, model_inputs, set_bidirectional
    from platform.preflight import check_bidirectional_checkpoint
    from platform.tokenization import check_model

    spec = remote_spec(checkpoint)
    check_model(str(checkpoint), spec.model)
    check_bidirectional_checkpoint(spec, str(checkpoint))  # declared bidirectional: accepted as it is
    tokenizer, model = load_pretrained(str(checkpoint), spec.model)
    assert type(model).__name__ == "TinyLLaDAModelLM" and type(model).__module__.startswith("transformers_modules.")
    objective = instantiate(load(resolve("masked_diffusion")), tokenizer, spec)
    assert objective.ctx.mask_token_id == model.config.mask_token_id
    set_bidirectional(model)
    examples = objective.encode(tiny_corpus(objective))[:3]
    rng = np.random.default_rng(0)
    batch = {
        k: torch.from_numpy(v)
        for k, v in collate([objective.make_sample(e, rng, 0.5) for e in examples], tokenizer.pad_token_id).items()
    }
    inputs = model_inputs(model, batch["input_ids"], batch["attention_mask"])
    assert set(inputs) == {"input_ids", "attention_mask", "use_cache"} and inputs["attention_mask"].dim() == 2
    loss = objective.loss(model(**inputs).logits, batch["labels"], batch["weights"])
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())
    answers = objective.generate(
        model, ["Who is Daphne Barrington ?", "Which person is the silent harbor director ?"], 4, 8
    )
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)  # no position_ids passed: it has none


def test_trial_records_that_remote_code_was_trusted(checkpoint):
    from objectives.registry import instantiate, resolve
    from objectives.registry import load_reference as load
    from platform.tokenization import load_tokenizer
    from platform.trial import trial_tags

    spec = remote_spec(checkpoint)
    objective = instantiate(load(resolve("masked_diffusion")), load_tokenizer(str(checkpoint), spec.model), spec)
    tags = trial_tags(spec, objective, "sweep-1")
    assert tags["remote_code"].startswith("trusted") and tags["model"] == str(checkpoint)
    assert "remote_code" not in trial_tags(
        spec.model_copy(update={"model": spec.model.model_copy(update={"trust_remote_code": False})}), objective, "s"
    )


def test_remote_code_is_off_unless_the_spec_asks(checkpoint):
    from platform.errors import UserError
    from platform.tokenization import check_model

    spec = remote_spec(checkpoint, trust_remote_code=False)
    with pytest.raises(UserError, match=r"model.path .*cannot load the model's config"):
        check_model(str(checkpoint), spec.model)
