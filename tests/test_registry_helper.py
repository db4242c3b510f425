"""diffax.registry: one behaviour for every name -> object table."""

import pytest

from diffax.registry import Registry, check_options


def make():
    reg = Registry("sampler")

    @reg.register("ddim", family="gaussian", order=1)
    def ddim(model, process, x, *, eta=0.0, steps=10):
        return ("ddim", eta, steps)

    reg.add("mask", lambda x, *, p=0.5: ("mask", p), family="discrete")
    return reg


def test_lookup_mapping_and_families():
    reg = make()
    assert sorted(reg) == ["ddim", "mask"] and len(reg) == 2 and "ddim" in reg
    assert reg.get("ddim")(1, 2, 3) == ("ddim", 0.0, 10)
    assert reg.entry("ddim").metadata == {"order": 1}
    assert reg.names("gaussian") == ["ddim"] and reg.names("discrete") == ["mask"]


def test_unknown_name_names_the_choices_and_the_closest():
    with pytest.raises(ValueError, match=r"unknown sampler 'ddmi' \(did you mean 'ddim'\?\); "
                                         r"valid choices: \['ddim', 'mask'\]"):
        make().get("ddmi")


def test_duplicates_are_refused():
    reg = make()
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("ddim", object())


def test_a_temporary_entry_lives_for_its_block_only():
    reg = make()
    proto = lambda x, *, q=1: ("proto", q)  # noqa: E731
    with reg.temporary("proto", proto, family="gaussian", order=2) as got:
        assert got is proto and reg.get("proto") is proto
        assert reg.names("gaussian") == ["ddim", "proto"]
        assert reg.entry("proto").metadata == {"order": 2}
        assert reg.build("proto", 0, q=3) == ("proto", 3)
    assert sorted(reg) == ["ddim", "mask"]
    with pytest.raises(RuntimeError, match="inside"):   # removed when the block raises
        with reg.temporary("proto", proto):
            raise RuntimeError("inside")
    assert "proto" not in reg
    with pytest.raises(ValueError, match="'ddim' is registered twice"):
        with reg.temporary("ddim", proto):
            pass
    assert reg.get("ddim")(1, 2, 3) == ("ddim", 0.0, 10)   # the refused name is kept


def test_build_checks_options_against_the_signature():
    reg = make()
    assert reg.build("ddim", 1, 2, 3, eta=1.0) == ("ddim", 1.0, 10)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['etta'\] \(did you mean "
                                         r"'eta'\?\); valid options: \['eta', 'steps'\]"):
        reg.build("ddim", 1, 2, 3, etta=1.0)


def test_family_mismatch_is_refused():
    reg = make()
    reg.check_family("ddim", "gaussian")
    with pytest.raises(ValueError, match=r"sampler 'mask' is for discrete processes, but the "
                                         r"process is gaussian; sampler entries for gaussian "
                                         r"processes: \['ddim'\]"):
        reg.check_family("mask", "gaussian")


def test_bound_options_cannot_be_overridden():
    def solver(x, *, order=2, method="multistep"):
        return x
    check_options("dpm", solver, {"order": 2}, skip=1, bound={"order": 2})
    with pytest.raises(ValueError, match="order=3 conflicts with order=2"):
        check_options("dpm", solver, {"order": 3}, skip=1, bound={"order": 2})


def test_class_options_come_from_its_constructor():
    class Meta(type):
        def __call__(cls, *args, **kwargs):  # hides __init__'s signature, as nnx does
            return super().__call__(*args, **kwargs)

    class Net(metaclass=Meta):
        def __init__(self, width=8, *, rngs=None):
            self.width = width

    reg = Registry("network")
    reg.add("net", Net)
    assert reg.build("net", width=4).width == 4
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['widht'\]"):
        reg.build("net", widht=4)
