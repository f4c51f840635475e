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
