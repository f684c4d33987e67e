"""Training memory per GPU when N GPUs train together: DDP (everything replicated) vs ZeRO / FSDP (sharded).

Takes the parts of :func:`course_utils.memory.estimate.estimate_training_memory` (``weights``, ``weights_4bit``,
``adapters``, ``gradients``, ``optimizer_states``, ``total``: bytes on one GPU) and says what each GPU holds when
``world_size`` GPUs share the work:

* **DDP** (PyTorch ``DistributedDataParallel``; ``accelerate launch`` with ``distributed_type: MULTI_GPU``): every
  process keeps a full replica of the model, its gradients and its optimizer states. On top, DDP keeps its own
  all-reduce buckets, as large as the trained parameters' gradients, unless ``gradient_as_bucket_view=True`` (PyTorch
  docs, ``DistributedDataParallel``: with it "the saved memory size will be equal to the total gradients size";
  accelerate's ``DistributedDataParallelKwargs`` and the Trainer leave it False).
* **ZeRO-1 / ZeRO-2 / ZeRO-3** (DeepSpeed): shard the optimizer states (1), also the gradients (2), also the
  parameters (3) across the processes (DeepSpeed ZeRO docs; peft's DeepSpeed guide). ZeRO-3 keeps parameters smaller
  than ``stage3_param_persistence_threshold`` (DeepSpeed default 1e5 elements) whole on every GPU: biases, norms and
  often the LoRA matrices themselves (8 x 768 = 6,144 elements). They are small; the figure here shards them.
* **FSDP** ``FULL_SHARD`` (PyTorch FSDP; accelerate ``distributed_type: FSDP``) shards what ZeRO-3 shards.

QLoRA under FSDP / ZeRO-3: only floating-point tensors are sharded. With the default ``bnb_4bit_quant_storage=uint8``
accelerate's FSDP2 path leaves every frozen 4-bit weight out of the sharding (``ignored_params``: accelerate
``utils/fsdp_utils.py``, ``fsdp2_prepare_model``), so the 4-bit weights stay whole on every GPU; with
``bnb_4bit_quant_storage=torch.bfloat16`` (peft's FSDP and DeepSpeed guides, bitsandbytes' "FSDP-QLoRA") the packed
codes shard. The quantization state (absmax, the double-quant constants) is no parameter and stays on every GPU.

Not counted, as in the single-GPU estimate: activations, the CUDA context, allocator caches, and the transient
buffers of sharding (FSDP / ZeRO-3 gather one layer's full parameters for its forward and backward).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from course_utils.memory.estimate import PARTS
from course_utils.quant import nf4
from course_utils.runtime.validate import choice, positive_int

#: Which parts each strategy splits across the processes (everything else is replicated on every GPU).
SHARDED_PARTS: dict[str, tuple[str, ...]] = {
    "ddp": (),
    "zero1": ("optimizer_states",),
    "zero2": ("optimizer_states", "gradients"),
    "zero3": ("optimizer_states", "gradients", "weights", "weights_4bit", "adapters"),
    "fsdp": ("optimizer_states", "gradients", "weights", "weights_4bit", "adapters"),
}
STRATEGIES = tuple(SHARDED_PARTS)
STRATEGY_LABELS = {"ddp": "DDP", "zero1": "ZeRO-1", "zero2": "ZeRO-2", "zero3": "ZeRO-3", "fsdp": "FSDP"}
QUANT_STORAGES = ("uint8", "bf16", "fp16", "fp32")


def quant_state_fraction(blocksize: int = 64, double_quant: bool = True) -> float:
    """Share of NF4 storage that is quantization state (absmax, DQ constants) rather than packed 4-bit codes."""
    return 1.0 - 4.0 / nf4.bits_per_parameter(blocksize, double_quant=double_quant)


def _ceil_div(nbytes: int, world_size: int) -> int:
    """Bytes of one shard (the last shard is padded, as FSDP and ZeRO pad flat parameters)."""
    return -(-nbytes // world_size)


def per_gpu_memory(parts: Mapping[str, int], world_size: int, strategy: str = "fsdp", *,
                   quant_storage: str = "bf16", blocksize: int = 64, double_quant: bool = True,
                   bucket_view: bool = False) -> dict[str, int]:
    """Bytes each GPU holds for `strategy` on `world_size` GPUs, part by part, plus ``total``.

    Args:
        parts: the dict of :func:`course_utils.memory.estimate.estimate_training_memory` (bytes on one GPU).
        world_size: number of GPUs (processes) training together; 1 gives back `parts` (and DDP's buckets).
        strategy: ``"ddp"``, ``"zero1"``, ``"zero2"``, ``"zero3"`` or ``"fsdp"`` (FULL_SHARD).
        quant_storage: ``bnb_4bit_quant_storage`` of a QLoRA model: ``"uint8"`` (bitsandbytes' default) keeps the
            4-bit weights whole on every GPU under zero3 / fsdp; a float dtype lets the packed codes shard.
        blocksize, double_quant: the NF4 settings, to split ``weights_4bit`` into codes and quantization state.
        bucket_view: DDP's ``gradient_as_bucket_view``; False (the Trainer's setting) adds a gradient-sized
            ``comm_buckets`` part under DDP.
    """
    world_size = positive_int(world_size, "world_size")
    choice(strategy, STRATEGIES, "strategy")
    choice(quant_storage, QUANT_STORAGES, "quant_storage")
    missing = [key for key in PARTS if key not in parts]
    if missing:
        raise ValueError(f"parts must have the keys of estimate_training_memory {list(PARTS)}; missing {missing}")
    for key in PARTS:
        positive_int(parts[key], f"parts[{key!r}]", allow_zero=True)
    sharded = SHARDED_PARTS[strategy]
    out: dict[str, int] = {}
    for key in PARTS:
        nbytes = int(parts[key])
        if key not in sharded:
            out[key] = nbytes
        elif key == "weights_4bit":
            if quant_storage == "uint8":
                out[key] = nbytes  # left out of the sharding: not a floating-point tensor
            else:
                state = round(nbytes * quant_state_fraction(blocksize, double_quant))
                out[key] = _ceil_div(nbytes - state, world_size) + state
        else:
            out[key] = _ceil_div(nbytes, world_size)
    # One process has no DDP wrapper, hence no buckets.
    out["comm_buckets"] = int(parts["gradients"]) if strategy == "ddp" and world_size > 1 and not bucket_view else 0
    out["total"] = sum(out.values())
    return out


def per_gpu_table(model: str = "llama-7b", world_sizes: Sequence[int] = (1, 2, 4, 8),
                  strategies: Sequence[str] = ("ddp", "fsdp"), methods: Sequence[str] = ("full", "lora", "qlora"),
                  weight_dtype: str = "bf16"):
    """GiB per GPU (as GPUs report) for each method x strategy (rows) and GPU count (columns), from the estimator.

    Sharded QLoRA rows use the FSDP / ZeRO-3 recipe: codes stored in bf16 and no fp32 upcast of the other weights
    (``kbit_upcast=False``: every tensor of a flat parameter has one dtype); DDP rows use the course's defaults.
    """
    import pandas as pd

    from course_utils.memory.estimate import GIB, estimate_training_memory

    rows = {}
    for method in methods:
        for strategy in strategies:
            choice(strategy, STRATEGIES, "strategy")
            upcast = {"kbit_upcast": False} if method == "qlora" and strategy in ("zero3", "fsdp") else {}
            parts = estimate_training_memory(model, method, weight_dtype, **upcast)
            label = f"{method} / {STRATEGY_LABELS[strategy]}"
            rows[label] = {f"{n} GPU": per_gpu_memory(parts, n, strategy)["total"] / GIB for n in world_sizes}
    return pd.DataFrame(rows).T


__all__ = ["PARTS", "QUANT_STORAGES", "SHARDED_PARTS", "STRATEGIES", "STRATEGY_LABELS", "per_gpu_memory",
           "per_gpu_table", "quant_state_fraction"]
