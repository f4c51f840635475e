"""Every matter says how long its materials are kept (保管期限) and which archive rule that
rests on; the policy texts give no periods, so each one is a rule of scripts/build_catalog.py."""

from __future__ import annotations

import pytest

from exchange.catalog import Matter
from nodes.wiring import load_catalog


def test_every_matter_has_a_retention_period_and_the_rule_it_rests_on() -> None:
    for matter in load_catalog():
        assert matter.retention_years in (10, 30, 100), matter.name
        assert "《" in matter.retention_basis or "档案" in matter.retention_basis, matter.name


@pytest.mark.parametrize("name, years", [
    ("结婚登记", 100),  # 婚姻登记档案
    ("夫妻投靠户口迁移", 100),  # 户籍档案
    ("不动产抵押登记", 100),  # 不动产登记簿
    ("内资企业及分支机构设立登记", 100),  # 企业登记档案
    ("企业职工基本养老保险关系转移接续", 100),  # 养老保险权益, for life
    ("学历公证", 100),
    ("开具户籍类证明", 30),  # a certificate issued, not the register itself
    ("门诊费用跨省直接结算", 30),  # 会计凭证
    ("社会保险个人权益记录单查询打印（养老保险、工伤保险、失业保险等）", 10),  # a query
])
def test_registers_are_kept_for_good_payments_thirty_years_and_queries_ten(name: str, years: int) -> None:
    matter = next(m for m in load_catalog().search(name) if m.name == name)
    assert matter.retention_years == years


def test_a_matter_recorded_before_retention_was_catalogued_is_kept_thirty_years() -> None:
    record = {"code": "X-1", "name": "旧事项", "lead_department": "market", "modes": ["proxy"],
              "required_materials": [], "time_limit_days": 5, "result_kind": "certificate"}
    assert Matter.from_record(record).retention_years == 30
