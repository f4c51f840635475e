"""An evidence bundle takes each partner's side as sent; a side that is not JSON at all is the
partner's fault, refused as such (FAILED_PRECONDITION through nodes.interceptors), never INTERNAL."""

from __future__ import annotations

import types
from typing import Any

import pytest

from exchange.case import Case
from exchange.errors import PeerRefused
from nodes.audit import LogAuditServicer
from tongban_pb import common_pb2

NUMBER = "340000-20251123-0000000B"
OFFICER = {"node": "340000", "department": "", "operator": "clerk-1"}


class OneCaseLedger:
    def __init__(self) -> None:
        self.case = Case.receive(case_number=NUMBER, matter_code="KS2020-044", mode="proxy", origin_province="340000",
                                 competent_province="330000", competent_department="market",
                                 applicant={"name": "王小明", "id_number": "340102199001010011"}, materials=[],
                                 checklist={}, actor=OFFICER)
        self.mapper = None

    def get_case(self, number: str) -> Case:
        assert number == NUMBER
        return self.case


def servicer_whose_partner_sends(side_json: str, monkeypatch: pytest.MonkeyPatch) -> LogAuditServicer:
    import nodes.evidence

    monkeypatch.setattr(nodes.evidence, "case_side", lambda keeper, number, mapper: {"node": "340000", "entries": []})
    ctx = types.SimpleNamespace(ledger=OneCaseLedger(), province_code="340000", store=None, verifier=None)
    partner = types.SimpleNamespace(call=lambda province, method, request: types.SimpleNamespace(side_json=side_json))
    return LogAuditServicer(ctx, types.SimpleNamespace(witnesses=partner))  # type: ignore[arg-type]


@pytest.mark.parametrize("side_json", ["not json", "[" * 100_000])
def test_a_partner_side_that_is_not_json_is_the_partners_refusal_not_an_internal_error(
    side_json: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    servicer = servicer_whose_partner_sends(side_json, monkeypatch)
    with pytest.raises(PeerRefused, match="the node of 330000 sent case evidence that is not a JSON document"):
        servicer.EvidenceBundle(common_pb2.CaseRef(case_number=NUMBER), context=None)


def test_a_partner_side_that_is_json_goes_into_the_bundle_as_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    servicer = servicer_whose_partner_sends('{"node": "330000", "entries": [1]}', monkeypatch)
    store: Any = types.SimpleNamespace(stat=lambda sha: None)
    servicer.ctx.store = store
    reply = servicer.EvidenceBundle(common_pb2.CaseRef(case_number=NUMBER), context=None)
    assert json.loads(reply.bundle_json)["sides"][1] == {"node": "330000", "entries": [1]}
