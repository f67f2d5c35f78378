"""The optimizer recipe of platform/engine.py on a real tiny Llama: decay groups, warm-up, the
DeepSpeed JSON and schedule (DeepSpeed not started)."""

from __future__ import annotations

import json

import pytest
import torch

from platform.data.worlds import vocabulary_texts
from platform.engine import build_engine, build_optimizer, lr_schedule, parameter_groups, warmup_then_constant
from platform.models import build_tiny_model
from platform.spec import ExperimentSpec, TinyModelConfig
from platform.strategy import deepspeed_config, describe, weights_dtype
from platform.tokenization import build_word_tokenizer

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64}


@pytest.fixture(scope="module")
def tokenizer():
    return build_word_tokenizer(vocabulary_texts())


@pytest.fixture
def model(tokenizer):
    return build_tiny_model(TinyModelConfig(**TINY), tokenizer, seed=0)


def spec_with(**sections) -> ExperimentSpec:
    return ExperimentSpec(model={"tiny": TINY, **sections.pop("model", {})}, **sections)


def names_in(model: torch.nn.Module, group: dict) -> set[str]:
    ids = {id(p) for p in group["params"]}
    return {name for name, p in model.named_parameters() if id(p) in ids}


# --- weight-decay parameter groups ------------------------------------------------------


def test_decay_goes_to_every_matrix_embeddings_included_and_not_to_norm_weights(model):
    decay, no_decay = parameter_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    decayed, undecayed = names_in(model, decay), names_in(model, no_decay)
    assert "model.embed_tokens.weight" in decayed  # 2-D: docs/method.md exempts only biases and norms
    assert {n for n in decayed if "proj" in n} == {
        f"model.layers.{i}.{part}.weight"
        for i in range(2)
        for part in (
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        )
    }
    assert undecayed == {"model.norm.weight"} | {
        f"model.layers.{i}.{norm}.weight" for i in range(2) for norm in ("input_layernorm", "post_attention_layernorm")
    }
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])


def test_groups_cover_every_trainable_parameter_once_and_the_tied_head_is_not_counted_twice(model):
    assert model.lm_head.weight is model.model.embed_tokens.weight
    decay, no_decay = parameter_groups(model, 0.1)
    grouped = [id(p) for p in decay["params"] + no_decay["params"]]
    assert len(grouped) == len(set(grouped)) == len(list(model.parameters()))
    assert sum(p.numel() for p in decay["params"] + no_decay["params"]) == sum(p.numel() for p in model.parameters())


def test_biases_get_no_decay_and_frozen_parameters_are_left_out():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3), torch.nn.Linear(3, 2))
    net[2].weight.requires_grad_(False)
    decay, no_decay = parameter_groups(net, 0.5)
    assert names_in(net, decay) == {"0.weight"}
    assert names_in(net, no_decay) == {"0.bias", "1.weight", "1.bias", "2.bias"}


def test_the_optimizer_is_adamw_with_the_specs_rate_betas_and_decay_on_the_two_groups(model):
    spec = spec_with(train={"lr": 2e-4, "betas": [0.8, 0.9], "weight_decay": 0.3})
    optimizer = build_optimizer(model, spec.train)
    assert isinstance(optimizer, torch.optim.AdamW)
    assert [(g["lr"], g["betas"], g["weight_decay"]) for g in optimizer.param_groups] == [
        (2e-4, (0.8, 0.9), 0.3),
        (2e-4, (0.8, 0.9), 0.0),
    ]
    assert all(g["fused"] for g in optimizer.param_groups)  # CPU has the fused kernel


# --- warm-up then constant ------------------------------------------------------------


def test_warmup_ramps_linearly_from_one_over_warmup_at_step_zero_to_one_at_its_last_step():
    factor = warmup_then_constant(total_steps=1000, warmup_ratio=0.1)  # 100 warm-up steps
    assert factor(0) == pytest.approx(0.01)
    assert factor(49) == pytest.approx(0.5)
    assert factor(98) == pytest.approx(0.99)
    assert factor(99) == 1.0
    assert [factor(s) for s in (100, 101, 999, 10**6)] == [1.0] * 4
    ramp = [factor(s) for s in range(100)]
    assert ramp == sorted(ramp) and len(set(ramp)) == 100


def test_no_warmup_ratio_means_the_full_rate_from_the_first_step():
    factor = warmup_then_constant(total_steps=500, warmup_ratio=0.0)
    assert [factor(s) for s in (0, 1, 499)] == [1.0, 1.0, 1.0]


def test_a_warmup_shorter_than_one_step_still_rounds_up_to_one_step():
    factor = warmup_then_constant(total_steps=10, warmup_ratio=0.02)  # 0.2 steps
    assert factor(0) == 1.0


def test_warmup_length_is_the_rounded_share_of_the_trials_steps():
    assert warmup_then_constant(200, 0.02)(0) == pytest.approx(1 / 4)
    assert warmup_then_constant(175, 0.02)(0) == pytest.approx(1 / 4)  # 3.5 rounds to 4 (round half to even)
    assert warmup_then_constant(125, 0.02)(0) == pytest.approx(1 / 2)  # 2.5 rounds to 2


def test_the_ddp_engine_steps_the_rate_through_warmup_and_then_holds_it(model, tokenizer):
    spec = spec_with(train={"lr": 1e-3, "warmup_ratio": 0.25, "grad_clip": 1.0})
    engine = build_engine(spec, model, total_steps=8, micro_batch=2, prepare_model=lambda m: m)
    assert not engine.deepspeed and engine.module is model and engine.autocast_dtype is None
    ids = torch.tensor([tokenizer.convert_tokens_to_ids(["<|user|>", "<|end|>", "<|assistant|>", "<|end|>"])])
    rates = []
    for _ in range(5):
        rates.append(engine.lr())
        engine.step(model(input_ids=ids, labels=ids).loss)
        assert all(p.grad is None for p in model.parameters())  # zeroed (set to None) after each step
    assert rates == pytest.approx([0.5e-3, 1e-3, 1e-3, 1e-3, 1e-3])
    assert engine.scheduler.last_epoch == 5


def test_bf16_without_deepspeed_means_fp32_weights_under_autocast(model):
    spec = spec_with(model={"dtype": "bfloat16"})
    engine = build_engine(spec, model, total_steps=4, micro_batch=2, prepare_model=lambda m: m)
    assert engine.autocast_dtype is torch.bfloat16 and weights_dtype(spec) == "float32"
    with engine.precision():
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    assert weights_dtype(spec_with(model={"dtype": "bfloat16"}, resources={"strategy": "deepspeed"})) == "bfloat16"
    assert weights_dtype(spec_with(resources={"strategy": "deepspeed"})) == "float32"


# --- the DeepSpeed JSON -------------------------------------------------------------------


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_deepspeed_config_per_zero_stage(stage):
    spec = spec_with(
        train={
            "lr": 5e-4,
            "batch_size": 8,
            "warmup_ratio": 0.1,
            "weight_decay": 0.2,
            "betas": [0.9, 0.99],
            "grad_clip": 0.5,
        },
        resources={"strategy": "deepspeed", "num_workers": 2, "deepspeed": {"zero_stage": stage}},
    )
    config = deepspeed_config(spec, micro_batch=4, total_steps=40)
    assert config["train_batch_size"] == 8
    assert config["train_micro_batch_size_per_gpu"] == 4
    assert config["gradient_accumulation_steps"] == 1
    # DeepSpeed's own rule: global batch = micro-batch x accumulation x workers
    assert config["train_batch_size"] == 4 * config["gradient_accumulation_steps"] * spec.resources.num_workers
    assert config["gradient_clipping"] == 0.5
    assert config["bf16"] == {"enabled": False} and "fp16" not in config
    expected_zero = {"stage": stage, **({"stage3_gather_16bit_weights_on_model_save": True} if stage == 3 else {})}
    assert config["zero_optimization"] == expected_zero
    assert config["optimizer"] == {
        "type": "AdamW",
        "params": {"lr": 5e-4, "betas": [0.9, 0.99], "weight_decay": 0.2, "torch_adam": True},
    }
    assert "scheduler" not in config  # the engine hands DeepSpeed the platform's own schedule
    json.dumps(config)  # it is logged as JSON


def test_deepspeed_bf16_and_no_clipping():
    spec = spec_with(model={"dtype": "bfloat16"}, train={"grad_clip": None}, resources={"strategy": "deepspeed"})
    config = deepspeed_config(spec, micro_batch=16, total_steps=100)
    assert config["bf16"] == {"enabled": True} and "fp16" not in config
    assert config["gradient_clipping"] == 0.0  # DeepSpeed's "off"


def test_deepspeed_offload_to_cpu_pins_memory_only_with_gpus():
    cpu = spec_with(
        resources={
            "strategy": "deepspeed",
            "deepspeed": {"zero_stage": 3, "offload_optimizer": True, "offload_params": True},
        }
    )
    zero = deepspeed_config(cpu, micro_batch=16, total_steps=10)["zero_optimization"]
    assert zero["offload_optimizer"] == {"device": "cpu", "pin_memory": False}
    assert zero["offload_param"] == {"device": "cpu", "pin_memory": False}
    gpu = spec_with(
        resources={
            "strategy": "deepspeed",
            "gpus_per_worker": 1,
            "deepspeed": {"zero_stage": 2, "offload_optimizer": True},
        }
    )
    zero = deepspeed_config(gpu, micro_batch=16, total_steps=10)["zero_optimization"]
    assert zero == {"stage": 2, "offload_optimizer": {"device": "cpu", "pin_memory": True}}


def test_a_users_deepspeed_file_is_merged_over_the_generated_config(tmp_path):
    user = tmp_path / "ds.json"
    user.write_text(
        json.dumps({"zero_optimization": {"reduce_bucket_size": 1000}, "gradient_clipping": 2.0, "extra": 1})
    )
    spec = spec_with(resources={"strategy": "deepspeed", "deepspeed": {"zero_stage": 1, "config": str(user)}})
    config = deepspeed_config(spec, micro_batch=16, total_steps=10)
    assert config["zero_optimization"] == {"stage": 1, "reduce_bucket_size": 1000}  # nested keys merge
    assert config["gradient_clipping"] == 2.0 and config["extra"] == 1  # the user's file wins
    assert config["train_batch_size"] == 16


def test_describe_logs_the_deepspeed_json_or_a_ddp_line():
    ds = spec_with(resources={"strategy": "deepspeed", "num_workers": 2, "deepspeed": {"zero_stage": 3}})
    assert json.loads(describe(ds, micro_batch=8, total_steps=50)) == deepspeed_config(ds, 8, 50)
    ddp = spec_with(resources={"num_workers": 2})
    assert describe(ddp, micro_batch=8, total_steps=50) == "ddp: 2 worker(s), micro-batch 8"


@pytest.mark.parametrize(("total_steps", "warmup_ratio"), [(50, 0.1), (100, 0.0)])
def test_deepspeed_schedule_gives_the_same_rate_per_step_as_the_ddp_one(total_steps, warmup_ratio):
    """DeepSpeed's own WarmupLR started at 0 and lagged two steps; the engine now hands it the
    platform's schedule, stepped by DeepSpeed's engine after each optimizer step as DDP's is."""
    spec = spec_with(train={"lr": 1e-3, "warmup_ratio": warmup_ratio}, resources={"strategy": "deepspeed"})
    assert "scheduler" not in deepspeed_config(spec, micro_batch=16, total_steps=total_steps)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = lr_schedule(optimizer, total_steps, warmup_ratio)
    rates = []
    for _ in range(10):  # DeepSpeed's engine: optimizer step at the current rate, then scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    factor = warmup_then_constant(total_steps, warmup_ratio)
    assert rates == pytest.approx([1e-3 * factor(step) for step in range(10)])
