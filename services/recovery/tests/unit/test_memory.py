"""The VRAM model with the numbers real out-of-memory errors carry (shared/corpus)."""

from __future__ import annotations

import pytest

from recovery.memory import GIB, MemoryModel, OomReport

MIB = 1024**2
MODEL = MemoryModel()

# "Allocation on device 0 would exceed allowed memory. Currently allocated: 14.81 GiB
#  Requested: 320.00 MiB Device limit: 15.92 GiB Free (according to CUDA): 0 bytes" (e0022)
E0022 = OomReport(requested=320 * MIB, allocated=int(14.81 * GIB), total=int(15.92 * GIB), free=0)
# "MPS backend out of memory (MPS allocated: 16.91 GB, other allocations: 2.77 MB,
#  max allowed: 18.13 GB). Tried to allocate 1.28 GB on private pool." (e0010)
E0010 = OomReport(requested=int(1.28 * GIB), allocated=int(16.91 * GIB), total=int(18.13 * GIB))
# "CUDA out of memory. Tried to allocate 218.96 GiB" (e0005)
E0005 = OomReport(requested=int(218.96 * GIB))
# "Tried to allocate 14.00 MiB. GPU 0 has a total capacity of 4.00 GiB of which 0 bytes is
#  free. Of the allocated memory 6.97 GiB is allocated by PyTorch, and 184.73 MiB is
#  reserved by PyTorch but unallocated." (e0027)
E0027 = OomReport(
    requested=14 * MIB, total=4 * GIB, free=0, allocated=int(6.97 * GIB), reserved=int(184.73 * MIB)
)


def test_features_are_read_as_bytes_and_junk_is_ignored() -> None:
    report = OomReport.from_features(
        {
            "requested_bytes": "335544320",
            "total_bytes": 17.0e9,
            "free_bytes": -1,
            "allocated_bytes": True,
        }
    )
    assert report == OomReport(requested=335544320, total=17_000_000_000)


def test_peak_is_what_was_held_plus_what_was_asked() -> None:
    assert E0022.peak == int(14.81 * GIB) + 320 * MIB
    assert OomReport(requested=10, total=100, free=30).peak == 80
    assert E0005.peak == int(218.96 * GIB)
    assert OomReport(total=100).peak is None


def test_capacity_after_free_excludes_memory_torch_did_not_hold() -> None:
    assert E0022.capacity_after_free(0.95) == int(int(15.92 * GIB) * 0.95)
    assert E0027.capacity_after_free(0.95) == int(4 * GIB * 0.95)
    assert E0005.capacity_after_free(0.95) is None


def test_e0022_fits_seven_tenths_of_its_work_on_the_same_gpu() -> None:
    fraction = MODEL.work_fraction(E0022, E0022.capacity_after_free(0.95) or 0)
    assert fraction == pytest.approx(0.70, abs=0.01)


def test_e0010_on_an_18_gb_mac_needs_a_smaller_job() -> None:
    fraction = MODEL.work_fraction(E0010, MODEL.capacity(E0010.total) or 0)
    assert fraction is not None and 0.5 < fraction < 0.9


def test_reserved_is_read_as_a_total_or_as_the_unallocated_part() -> None:
    total_reserved = OomReport(
        requested=GIB, total=24 * GIB, allocated=6 * GIB, free=2 * GIB, reserved=10 * GIB
    )
    assert total_reserved.capacity_after_free(1.0) == 12 * GIB
    unallocated = OomReport(
        requested=GIB, total=24 * GIB, allocated=6 * GIB, free=2 * GIB, reserved=GIB
    )
    assert unallocated.capacity_after_free(1.0) == 9 * GIB


def test_the_simulators_sdxl_batch_of_eight_fits_five_per_prompt_on_24_gib() -> None:
    report = OomReport(
        requested=20 * GIB,
        total=24 * GIB,
        allocated=int(6.5 * GIB),
        free=int(17.5 * GIB),
        reserved=int(6.5 * GIB),
    )
    fraction = MODEL.work_fraction(report, report.capacity_after_free(0.95) or 0)
    assert fraction is not None and int(8 * fraction) == 5


def test_a_job_larger_than_its_fixed_part_allows_never_fits_a_small_gpu() -> None:
    assert MODEL.work_fraction(E0027, E0027.capacity_after_free(0.95) or 0) is None
    assert MODEL.work_fraction(E0005, MODEL.capacity(24 * GIB) or 0) is not None


def test_a_bigger_gpu_fits_the_same_job_unchanged() -> None:
    assert MODEL.work_fraction(E0022, MODEL.capacity(24 * GIB) or 0) == 1.0
    assert MODEL.fits(E0022.peak or 0, MODEL.capacity(24 * GIB) or 0)


def test_the_failed_request_always_counts_as_scaling_work() -> None:
    report = OomReport(requested=8 * GIB, allocated=1 * GIB)
    fraction = MODEL.work_fraction(report, 8 * GIB)
    assert fraction == pytest.approx((8 * 0.85 - 1) / 8, abs=1e-6)
