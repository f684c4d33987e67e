"""Units of memory, one copy: the lecture's decimal GB and the binary GiB and MiB that GPUs and torch report."""

from __future__ import annotations

GB = 10**9  # decimal gigabytes, as in the lecture's "28 GB"
GIB = 2**30  # GPU memory is sold and reported in binary units: compare estimates with GPUs in GiB
MIB = 2**20  # torch.cuda.max_memory_allocated and tensor inventories, shown in MiB
