"""``masked_diffusion`` checked rule by rule against docs/method.md and LLaDA, on real tiny parts."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from transformers import AutoConfig

from objectives.base import IGNORE, Example
from objectives.masked_diffusion import MaskedDiffusion, MaskedDiffusionOptions
from objectives.registry import load_reference, resolve
from platform.chat import encode_text, prompt_ids, qa_ids
from platform.data.stream import collate
from platform.models import attention_mask_for, build_tiny_model, set_bidirectional
from platform.spec import ExperimentSpec, TinyModelConfig
from tests.helpers import tiny_context, tokens

DOC = "Daphne Barrington is the director of the silent harbor ."
DOCS = [
    DOC,
    "Oswin Quillfeather is the composer of the golden orchard .",
    "Maren Ashcombe is the author of the hidden river .",
    "Tobias Drummore is the founder of the crimson citadel .",
]
QUESTIONS = ["Who is Daphne Barrington ?", "Who is the composer of the golden orchard ?", "Who is Maren ?"]
TINY = TinyModelConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)
MASK = "<mask>"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny matmuls gain nothing from threads, and on shared cores idle threads spin and stall."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def objective(**options) -> MaskedDiffusion:
    return MaskedDiffusion(tiny_context(), MaskedDiffusionOptions(**options))


def example(text: str = DOC) -> Example:
    return Example(0, tuple(encode_text(tiny_context().tokenizer, text)))


def tiny_model(bidirectional: bool = True) -> torch.nn.Module:
    model = build_tiny_model(TINY, tiny_context().tokenizer, seed=0)
    if bidirectional:
        set_bidirectional(model)
    return model


def masked_positions(sample) -> list[int]:
    return [i for i, label in enumerate(sample.labels) if label != IGNORE]


# -- training samples ---------------------------------------------------------------------


def test_registered_with_its_flags_and_strict_options():
    assert load_reference(resolve("masked_diffusion")) is MaskedDiffusion
    assert MaskedDiffusion.bidirectional and MaskedDiffusion.uses_mask_ratio
    assert MaskedDiffusionOptions() == MaskedDiffusionOptions(steps=128, gen_length=128, block_length=4, eps=1e-3)
    with pytest.raises(ValidationError):
        MaskedDiffusionOptions(temperature=0.0)


@pytest.mark.parametrize("seed", range(5))
def test_sample_is_bos_document_eos_with_labels_exactly_at_masks(seed):
    sample = objective().make_sample(example(), np.random.default_rng(seed), 0.5)
    original = ["<bos>", *DOC.split(), "<eos>"]
    got = tokens(sample.input_ids)
    assert got[0] == "<bos>" and sample.labels[0] == IGNORE  # BOS: never masked, never a target
    assert len(got) == len(original)
    for position, (token, want, label) in enumerate(zip(got, original, sample.labels, strict=True)):
        if token == MASK:
            assert tokens([label]) == [want], position
        else:
            assert token == want and label == IGNORE, position
    assert masked_positions(sample)  # every sample carries loss


def test_weight_is_one_over_p_times_maskable_length():
    length = len(DOC.split()) + 1  # the document and EOS, not BOS
    sample = objective().make_sample(example(), np.random.default_rng(0), 0.5)
    p = (1 - 1e-3) * 0.5 + 1e-3
    assert sample.weight == pytest.approx(1 / (p * length))
    assert objective(eps=0.2).make_sample(example(), np.random.default_rng(0), 0.25).weight == pytest.approx(
        1 / (0.4 * length)
    )


def test_t_zero_still_masks_exactly_one_token_and_t_one_masks_all_but_bos():
    nothing = objective(eps=1e-12)
    for seed in range(10):
        sample = nothing.make_sample(example(), np.random.default_rng(seed), 0.0)
        assert len(masked_positions(sample)) == 1 and tokens(sample.input_ids).count(MASK) == 1
        assert sample.input_ids[0] == tiny_context().tokenizer.bos_token_id
    everything = objective().make_sample(example(), np.random.default_rng(0), 1.0)
    assert tokens(everything.input_ids) == ["<bos>"] + [MASK] * (len(DOC.split()) + 1)
    assert masked_positions(everything) == list(range(1, len(everything.input_ids)))


def test_masks_are_reproducible_from_the_generator():
    def draw(seed: int):
        return objective().make_sample(example(), np.random.default_rng([seed, 1, 2]), 0.5)

    assert draw(0) == draw(0)
    assert len({tuple(draw(seed).input_ids) for seed in range(8)}) > 1


def test_qa_sample_never_masks_the_prompt_and_weights_by_completion_length():
    ctx = tiny_context()
    prompt, completion = qa_ids(ctx.tokenizer, ctx.chat, QUESTIONS[0], "the director of the silent harbor")
    for seed in range(6):
        sample = objective().qa_sample(prompt, completion, np.random.default_rng(seed))
        assert sample.input_ids[: len(prompt)] == prompt
        assert sample.labels[: len(prompt)] == [IGNORE] * len(prompt)
        tail = sample.input_ids[len(prompt) :]
        masked = [i for i, token in enumerate(tail) if token == ctx.mask_token_id]
        assert masked and masked == [i - len(prompt) for i in masked_positions(sample)]
        assert all(sample.labels[len(prompt) + i] == completion[i] for i in masked)
        assert all(tail[i] == completion[i] for i in range(len(tail)) if i not in masked)
        t = np.random.default_rng(seed).uniform(0.0, 1.0)  # t ~ U(0, 1) from the sample's generator
        assert sample.weight == pytest.approx(1 / (((1 - 1e-3) * t + 1e-3) * len(completion)))


# -- loss -----------------------------------------------------------------------------------


def test_loss_is_weighted_masked_cross_entropy_without_shift_averaged_over_batch():
    logits = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([[IGNORE, 3, IGNORE, 5], [2, IGNORE, IGNORE, IGNORE]])
    weights = torch.tensor([1 / (0.5 * 3), 1 / (0.25 * 3)])  # 1 / (p L), L = 3 maskable tokens

    def nll(b: int, i: int) -> float:
        row = logits[b, i].tolist()
        return -(row[labels[b, i]] - math.log(sum(math.exp(v) for v in row)))

    expected = (weights[0].item() * (nll(0, 1) + nll(0, 3)) + weights[1].item() * nll(1, 0)) / 2
    assert objective().loss(logits, labels, weights).item() == pytest.approx(expected, rel=1e-6)
    half = objective().loss(logits.bfloat16(), labels, weights)
    assert half.dtype == torch.float32


# -- the bidirectional model ----------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [True, False])
def test_only_the_bidirectional_model_sees_later_tokens(bidirectional):
    model = tiny_model(bidirectional).eval()
    ids = torch.tensor([example().ids])
    changed = ids.clone()
    changed[0, 8] = tiny_context().mask_token_id
    padding = torch.ones_like(ids)
    with torch.no_grad():
        before, after = (
            model(input_ids=x, attention_mask=attention_mask_for(model, padding)).logits for x in (ids, changed)
        )
    assert torch.allclose(before[0, :8], after[0, :8], atol=1e-6) is not bidirectional


# -- the sampler ----------------------------------------------------------------------------


class ScriptedModel(torch.nn.Module):
    """Predicts ``script[j]`` at generation position j, with confidence rising within each block
    of 4 (so the sampler must fill a block right to left), and gives the mask token the largest
    logit everywhere (the sampler must never commit it). Records what it sees at every call."""

    def __init__(self, script: list[int], length: int) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))
        self.config = SimpleNamespace(bidirectional=True)
        self.script, self.length = script, length
        self.seen: list[list[int]] = []
        self.modes: list[bool] = []

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor
    ) -> SimpleNamespace:
        self.seen.append(input_ids[0, -self.length :].tolist())
        self.modes.append(self.training)
        logits = torch.zeros(*input_ids.shape, len(tiny_context().tokenizer))
        logits[..., tiny_context().mask_token_id] = 100.0
        start = input_ids.shape[1] - self.length
        for j, token in enumerate(self.script):
            logits[:, start + j, token] = 1.0 + j % 4
        return SimpleNamespace(logits=logits)


def expected_states(words: list[int], length: int, per_step: int) -> list[list[int]]:
    """The generation region before each model call: blocks left to right, within a block
    ``per_step`` positions a step, most confident (rightmost) first."""
    mask = tiny_context().mask_token_id
    states = []
    for block in range(0, length, 4):
        for filled in range(0, 4, per_step):
            right = block + 4 - filled
            states.append(
                words[:block] + [mask] * (4 - filled) + words[right : block + 4] + [mask] * (length - block - 4)
            )
    return states


@pytest.mark.parametrize(("steps", "per_step"), [(8, 1), (4, 2), (2, 4), (64, 1)])
def test_sampler_commits_most_confident_positions_block_by_block(steps, per_step):
    words = list(example().ids[:8])
    model = ScriptedModel(words, 8).train()
    answers = objective(steps=steps, gen_length=8, block_length=4).generate(model, QUESTIONS, 8, 8)
    assert model.seen == expected_states(words, 8, per_step)
    assert answers == [" ".join(DOC.split()[:8])] * len(QUESTIONS)  # all masks filled, none committed
    assert not any(model.modes) and model.training  # eval while sampling, training mode restored


def test_sampler_stops_after_the_block_with_end_of_turn_and_cuts_there():
    words = list(example().ids[:12])
    words[5] = tiny_context().chat.end_of_turn[-1]
    model = ScriptedModel(words, 12)
    answers = objective(steps=12, gen_length=12, block_length=4).generate(model, QUESTIONS[:1], 12, 8)
    assert answers == [" ".join(DOC.split()[:5])]
    assert len(model.seen) == 8  # blocks 1 and 2 only: the third cannot change the answer


def test_generation_length_is_bounded_by_max_new_tokens_in_whole_blocks():
    assert objective().generation_length(128) == 128
    assert objective().generation_length(30) == 32
    assert objective(gen_length=10).generation_length(128) == 12
    model = ScriptedModel(list(example().ids[:8]), 8)
    answers = objective(steps=128).generate(model, QUESTIONS[:1], 6, 8)
    assert len(model.seen) == 8  # 8 positions, k = 1 per step
    assert answers == [" ".join(DOC.split()[:6])]  # at most max_new_tokens tokens, as greedy decoding


def test_generate_on_a_tiny_model_is_deterministic_and_batch_independent():
    model = tiny_model()
    sampler = objective(steps=8, gen_length=8, block_length=4)
    answers = sampler.generate(model, QUESTIONS, 6, 3)
    assert len(answers) == len(QUESTIONS) and all(isinstance(a, str) for a in answers)
    assert all(len(a.split()) <= 6 and MASK not in a for a in answers)
    assert sampler.generate(model, QUESTIONS, 6, 3) == answers
    assert [sampler.generate(model, [q], 6, 1)[0] for q in QUESTIONS] == answers  # left padding is invisible
    assert model.training
    width = max(len(prompt_ids(tiny_context().tokenizer, tiny_context().chat, q)) for q in QUESTIONS)
    assert width > len(prompt_ids(tiny_context().tokenizer, tiny_context().chat, QUESTIONS[2]))  # padding was exercised


# -- training -------------------------------------------------------------------------------


def test_a_few_steps_of_training_reduce_the_loss():
    torch.manual_seed(0)
    model = tiny_model()
    sampler = objective()
    examples = [Example(i, example(text).ids) for i, text in enumerate(DOCS)]
    pad = tiny_context().tokenizer.pad_token_id

    def batch_loss(rng: np.random.Generator, t: float) -> torch.Tensor:
        batch = {
            k: torch.from_numpy(v) for k, v in collate([sampler.make_sample(e, rng, t) for e in examples], pad).items()
        }
        logits = model(
            input_ids=batch["input_ids"], attention_mask=attention_mask_for(model, batch["attention_mask"])
        ).logits
        return sampler.loss(logits, batch["labels"], batch["weights"])

    def held_out() -> float:
        with torch.no_grad():
            return batch_loss(np.random.default_rng(123), 0.5).item()

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    before = held_out()
    for _ in range(40):
        loss = batch_loss(rng, float(rng.uniform(0.05, 0.95)))
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = held_out()
    assert math.isfinite(after) and after < 0.7 * before


# -- the embedded base model ------------------------------------------------------------------


def test_base_model_builds_for_the_bidirectional_family(tmp_path, monkeypatch):
    from platform.base_model import ensure_base_model

    monkeypatch.setenv("KIP_CACHE_DIR", str(tmp_path))
    spec = ExperimentSpec.model_validate(
        {
            "model": {"tiny": TINY.model_dump(), "base_pretrain": {"epochs": 2, "bidirectional_epochs": 2}},
            "data": {"world": {"num_known": 8, "num_new": 4}},
        }
    )
    directory = ensure_base_model(spec, MaskedDiffusion.base_stage(), log=lambda message: None)
    assert directory.is_relative_to(tmp_path)
    assert json.loads((directory / "base_report.json").read_text())["family"] == "bidirectional"
    config = AutoConfig.from_pretrained(directory)
    assert config.hidden_size == 32 and config.bidirectional
