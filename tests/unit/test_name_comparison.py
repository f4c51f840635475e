"""signing.names: names with the same encoding compare as bytes; every other pair is still
compared as RFC 5280 says, so the faster path never changes an answer."""

from __future__ import annotations

from asn1crypto import x509

from signing import names


def _name(common_name: str, *, organisation: str = "浙江省市场监督管理局", printable: bool = False) -> x509.Name:
    return x509.Name.build({"common_name": common_name, "organization_name": organisation},
                           use_printable=printable)


def _reparsed(name: x509.Name) -> x509.Name:
    return x509.Name.load(name.dump())


def test_names_with_the_same_encoding_are_equal() -> None:
    names.install()
    assert _reparsed(_name("Seal CA")) == _reparsed(_name("Seal CA"))


def test_names_differing_only_in_case_and_spacing_still_match() -> None:
    names.install()
    assert _reparsed(_name("Seal  CA", organisation="Zhejiang")) == _reparsed(_name("seal ca", organisation="ZHEJIANG"))


def test_names_in_another_string_type_still_match() -> None:
    names.install()
    assert _reparsed(_name("Seal CA", organisation="Zhejiang", printable=True)) == \
        _reparsed(_name("Seal CA", organisation="Zhejiang"))


def test_different_names_still_differ() -> None:
    names.install()
    assert _reparsed(_name("Seal CA")) != _reparsed(_name("Other CA"))
    assert _reparsed(_name("Seal CA")) != _reparsed(_name("Seal CA", organisation="安徽省市场监督管理局"))
    assert _reparsed(_name("Seal CA")).chosen != "Seal CA"


def test_install_is_idempotent() -> None:
    names.install()
    first = x509.RDNSequence.__eq__
    names.install()
    assert x509.RDNSequence.__eq__ is first


def test_a_names_lookup_key_is_what_asn1crypto_prepares_for_it() -> None:
    names.install()
    for name in (_name("Seal  CA", organisation="Zhejiang"), _name("seal ca", organisation="ZHEJIANG"),
                 _name("Seal CA", organisation="Zhejiang", printable=True), _name("浙江省 税务局")):
        twice = [_reparsed(name).hashable, _reparsed(name).hashable]  # the second from the table
        assert twice == [names._original_hashable(_reparsed(name).chosen)] * 2
    assert _reparsed(_name("Seal  CA")).hashable == _reparsed(_name("seal ca")).hashable
    assert _reparsed(_name("Seal CA")).hashable != _reparsed(_name("Other CA")).hashable


def test_a_name_changed_after_it_was_looked_up_gets_the_key_of_its_new_value() -> None:
    names.install()
    name = _reparsed(_name("Seal CA"))
    before = name.hashable
    name.chosen[0][0]["value"] = x509.DirectoryString(name="utf8_string", value="Other CA")
    assert name.hashable != before and "other  ca" in name.hashable  # prepped: spaces doubled


def test_the_table_of_lookup_keys_stays_bounded() -> None:
    names.install()
    for n in range(names._MAX_HASHABLES + 10):
        _reparsed(_name(f"stranger {n}")).hashable
    assert len(names._hashables) <= names._MAX_HASHABLES


def test_a_name_too_long_for_the_federation_is_prepared_each_time_not_kept() -> None:
    names.install()
    long = _reparsed(_name("x" * 2000))
    before = len(names._hashables)
    assert long.hashable == names._original_hashable(long.chosen) and "x" * 100 in long.hashable
    assert len(names._hashables) == before and long.dump() not in names._hashables
