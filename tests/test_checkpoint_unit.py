"""checkpoint.save then load on a real tiny Llama and its DDP engine (CPU): weights, optimizer,
schedule, RNG and LoopState."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from platform import checkpoint
from platform.checkpoint import LoopState
from platform.data.worlds import vocabulary_texts
from platform.engine import build_engine
from platform.models import build_tiny_model
from platform.spec import ExperimentSpec
from platform.tokenization import build_word_tokenizer
from tests.conftest import REPO

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64}
SPEC = ExperimentSpec(model={"tiny": TINY}, train={"lr": 1e-3, "warmup_ratio": 0.5, "grad_clip": 1.0})
TOTAL_STEPS = 8


@pytest.fixture(scope="module")
def tokenizer():
    return build_word_tokenizer(vocabulary_texts())


def fresh_engine(tokenizer, seed: int):
    model = build_tiny_model(SPEC.model.tiny, tokenizer, seed=seed)
    return build_engine(SPEC, model, total_steps=TOTAL_STEPS, micro_batch=2, prepare_model=lambda m: m)


def batch(tokenizer) -> torch.Tensor:
    words = ["<|user|>", "Tell", "me", "a", "fact", ".", "<|end|>", "<|assistant|>", "<|end|>"]
    return torch.tensor([tokenizer.convert_tokens_to_ids(words)])


def train(engine, ids: torch.Tensor, steps: int) -> list[float]:
    losses = []
    for _ in range(steps):
        loss = engine.model(input_ids=ids, labels=ids).loss
        losses.append(loss.item())
        engine.step(loss)
    return losses


@pytest.fixture
def trained(tokenizer):
    engine = fresh_engine(tokenizer, seed=0)
    train(engine, batch(tokenizer), steps=3)  # inside the warm-up (4 steps): the rate is still rising
    return engine


STATE = LoopState(
    completed_epochs=3,
    best_selection=0.25,
    best_metrics={"best_forward_acc": 0.5, "epoch": 2.0},
    evaluations_since_best=1,
    tokens_seen=12345,
)


def test_round_trip_restores_weights_optimizer_schedule_and_loop_state(trained, tokenizer, tmp_path):
    assert checkpoint.save(trained, tmp_path, STATE, rank=0)
    restored = fresh_engine(tokenizer, seed=1)  # different initial weights: loading must overwrite them
    assert not torch.equal(restored.module.model.embed_tokens.weight, trained.module.model.embed_tokens.weight)

    assert checkpoint.load(restored, tmp_path) == STATE

    want, got = trained.module.state_dict(), restored.module.state_dict()
    assert want.keys() == got.keys()
    for name in want:
        assert torch.equal(want[name], got[name]), name
    assert restored.module.lm_head.weight is restored.module.model.embed_tokens.weight  # still tied

    saved_opt, loaded_opt = trained.optimizer.state_dict(), restored.optimizer.state_dict()
    assert saved_opt["param_groups"] == loaded_opt["param_groups"]
    assert saved_opt["state"].keys() == loaded_opt["state"].keys() and len(saved_opt["state"]) > 0
    for index, moments in saved_opt["state"].items():
        for key, value in moments.items():
            assert torch.equal(value, loaded_opt["state"][index][key]), (index, key)
    assert all(float(s["step"]) == 3 for s in loaded_opt["state"].values())

    assert restored.scheduler.last_epoch == trained.scheduler.last_epoch == 3
    assert restored.lr() == trained.lr() == pytest.approx(1e-3)  # factor(3) of a 4-step warm-up


def test_a_resumed_engine_trains_on_exactly_as_the_uninterrupted_one(trained, tokenizer, tmp_path):
    ids = batch(tokenizer)
    checkpoint.save(trained, tmp_path, STATE, rank=0)
    restored = fresh_engine(tokenizer, seed=1)
    checkpoint.load(restored, tmp_path)
    assert train(restored, ids, steps=3) == train(trained, ids, steps=3)
    assert restored.lr() == trained.lr()
    for name, value in trained.module.state_dict().items():
        assert torch.equal(value, restored.module.state_dict()[name]), name


def test_the_torch_rng_state_is_restored(trained, tokenizer, tmp_path):
    torch.manual_seed(123)
    checkpoint.save(trained, tmp_path, STATE, rank=0)
    expected = torch.rand(5)
    torch.manual_seed(999)  # what the restarted worker happened to seed
    checkpoint.load(fresh_engine(tokenizer, seed=1), tmp_path)
    assert torch.equal(torch.rand(5), expected)


def test_the_default_loop_state_with_minus_infinity_survives_json(trained, tokenizer, tmp_path):
    checkpoint.save(trained, tmp_path, LoopState(), rank=0)
    state = checkpoint.load(fresh_engine(tokenizer, seed=1), tmp_path)
    assert state == LoopState() and math.isinf(state.best_selection) and state.best_selection < 0
    assert json.loads((tmp_path / checkpoint.STATE_FILE).read_text())["completed_epochs"] == 0


def test_the_directory_holds_a_loadable_hugging_face_model_and_the_training_state(trained, tmp_path):
    from transformers import LlamaForCausalLM

    checkpoint.save(trained, tmp_path / "nested" / "ckpt", STATE, rank=0)  # parents are created
    directory = tmp_path / "nested" / "ckpt"
    assert {"config.json", "model.safetensors", "training_state.pt", checkpoint.STATE_FILE} <= {
        p.name for p in directory.iterdir()
    }
    loaded = LlamaForCausalLM.from_pretrained(directory)
    for name, value in trained.module.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name


def test_a_ddp_replica_other_than_rank_zero_writes_nothing_and_reports_no_directory(trained, tmp_path):
    assert checkpoint.save(trained, tmp_path / "rank1", STATE, rank=1) is False
    assert list((tmp_path / "rank1").iterdir()) == []


def test_saving_the_model_writes_what_save_pretrained_writes_without_importing_deepspeed(tmp_path):
    """In a fresh process (this one may have DeepSpeed loaded): transformers' own unwrapping
    would import DeepSpeed through accelerate at the first checkpoint; the files are the same."""
    script = f"""
import sys
from pathlib import Path
from transformers import LlamaConfig, LlamaForCausalLM
from platform.checkpoint import save_unwrapped
import transformers.modeling_utils as modeling_utils
model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, num_key_value_heads=2))
save_unwrapped(model, Path({str(tmp_path / "ours")!r}))
assert "deepspeed" not in sys.modules, "DeepSpeed was imported"
assert modeling_utils.unwrap_model.__name__ == "unwrap_model", "transformers' function was not put back"
model.save_pretrained({str(tmp_path / "theirs")!r})
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
    for path in theirs.iterdir():
        assert (ours / path.name).read_bytes() == path.read_bytes(), path.name
