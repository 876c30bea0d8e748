"""The GPU types a new installation starts with (example prices; staff edit them in the admin).

``code`` is the GPU pool id customers send (``"gpuTypes": "ADA_48_PRO,AMPERE_80"``);
``provider_gpu_id`` is RunPod's ``gpuTypeId`` for that GPU. Rates are µcr per second of
one GPU executing a job (1 credit = 1,000,000 µcr = 0.01 USD): 31,000 µcr/s is
0.031 credits a second, about 0.00031 USD, near RunPod's own serverless price.
"""

GPU_TYPES = [
    # code, name, memory (GB), µcr per second, RunPod gpuTypeId
    ("ADA_24", "RTX 4090, 24 GB", 24, 31_000, "NVIDIA GeForce RTX 4090"),
    ("ADA_48_PRO", "RTX 6000 Ada, 48 GB", 48, 53_000, "NVIDIA RTX 6000 Ada Generation"),
    ("AMPERE_80", "A100, 80 GB", 80, 76_000, "NVIDIA A100 80GB PCIe"),
    ("ADA_80_PRO", "H100, 80 GB", 80, 116_000, "NVIDIA H100 80GB HBM3"),
    ("HOPPER_141", "H200, 141 GB", 141, 155_000, "NVIDIA H200"),
]


def gpu_types_seed(gpu_type_model) -> int:
    """Create the seed types that are missing (never overwrites staff edits); the number made."""
    made = 0
    for order, (code, name, memory, rate, provider_id) in enumerate(GPU_TYPES):
        _row, created = gpu_type_model.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "memory_gb": memory,
                "microcredits_per_second": rate,
                "provider_gpu_id": provider_id,
                "sort_order": order * 10,
            },
        )
        made += created
    return made
