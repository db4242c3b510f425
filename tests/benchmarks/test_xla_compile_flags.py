"""benchmarks.xla_compile_flags measures the flags the test suite compiles with."""

from cpu_compile import CPU_COMPILE_FLAGS, with_compile_flags

from benchmarks.xla_compile_flags import VARIANTS


def test_the_suite_variant_is_the_suites_flags():
    assert VARIANTS["suite"].split() == list(CPU_COMPILE_FLAGS)
    assert VARIANTS["default"] == ""


def test_flags_already_set_are_kept():
    flags = "--xla_cpu_use_fusion_emitters=true --xla_force_host_platform_device_count=2"
    assert with_compile_flags(flags) == flags + " --xla_llvm_disable_expensive_passes=true"
    assert with_compile_flags("") == " ".join(CPU_COMPILE_FLAGS)
