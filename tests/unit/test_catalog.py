"""The shipped catalog against the policy texts it was built from."""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from exchange.catalog import Catalog
from exchange.departments import BY_KEY, PKI_BASELINE, department_key_for
from exchange.errors import InvalidRequest
from nodes.wiring import load_catalog

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_catalog  # noqa: E402

SEEDS = build_catalog.default_seeds()
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"policy texts not at {SEEDS}")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _declared(seed: str) -> list[int]:
    """The counts the texts themselves declare in their list headings: （58项）, (共22项)…"""
    text = unicodedata.normalize("NFKC", (SEEDS / seed).read_text(encoding="utf-8"))
    return [int(n) for n in re.findall(r"的事项\s*\(\s*(\d+)\s*项\)|\(共\s*(\d+)\s*项\)", text) for n in n if n]


def _count(catalog: Catalog, list_name: str, batch: str | None = None) -> int:
    return sum(1 for m in catalog for l in m.lists if l.list == list_name and (batch is None or l.batch == batch))


@needs_seeds
def test_the_national_list_has_the_58_74_and_8_matters_the_2020_text_declares(catalog: Catalog) -> None:
    declared = _declared(build_catalog.SEEDS["national_2020"])
    assert declared == [140, 58, 74, 8]
    assert _count(catalog, "national-2020") == 140
    assert [_count(catalog, "national-2020", b) for b in ("2020年底前", "2021年底前", "2021年以后")] == declared[1:]


@needs_seeds
def test_the_2022_additions_are_the_22_the_2022_text_declares(catalog: Catalog) -> None:
    assert _declared(build_catalog.SEEDS["national_2022"]) == [22]
    assert _count(catalog, "national-2022") == 22


def test_the_regional_lists_have_36_and_12_matters_all_already_national(catalog: Catalog) -> None:
    assert _count(catalog, "regional-2023") == 36
    assert _count(catalog, "regional-2022-additions") == 12
    for m in catalog.on_list("regional-2023") + catalog.on_list("regional-2022-additions"):
        assert {l.list for l in m.lists} & {"national-2020", "national-2022"}, m.name


def test_the_catalog_holds_162_distinct_matters_with_distinct_names(catalog: Catalog) -> None:
    assert len(catalog) == 140 + 22 == 162
    names = Counter(build_catalog.normalise(m.name) for m in catalog)
    assert names.most_common(1)[0][1] == 1


@pytest.mark.parametrize(("list_name", "batch", "seq", "name"), [
    ("national-2020", "2020年底前", 1, "学历公证"),
    ("national-2020", "2020年底前", 43, "营业执照遗失补领、换发"),
    ("national-2020", "2020年底前", 49, "航空安全员资格认定"),  # not in the municipal table
    ("national-2020", "2021年底前", 3, "工作调动户口迁移"),
    ("national-2020", "2021年底前", 64, "非《进出口野生动植物种商品目录》物种证明核发"),
    ("national-2020", "2021年以后", 8, "生育保险待遇核定与支付"),
    ("national-2022", "2022年底前", 2, "子女投靠父母户口迁移"),
    ("regional-2022-additions", None, 11, "退还误收多缴保险费申请"),  # the agreement misspells 多缴
    ("regional-2023", None, 36, "生育保险待遇核定与支付"),
])
def test_spot_checked_names_sit_where_the_texts_put_them(
    catalog: Catalog, list_name: str, batch: str | None, seq: int, name: str,
) -> None:
    [matter] = [m for m in catalog for l in m.lists
                if l.list == list_name and l.seq == seq and (batch is None or l.batch == batch)]
    assert matter.name == name


def test_every_matter_has_departments_materials_a_time_limit_and_a_result_kind(catalog: Catalog) -> None:
    for m in catalog:
        assert m.lead_department in BY_KEY and m.lead_department not in m.cooperating_departments
        assert set(m.cooperating_departments) <= set(BY_KEY)
        assert "id_card" in m.required_kinds() and m.time_limit_days > 0 and m.modes
        assert m.result_kind in {"certificate", "printout", "record"}


def test_department_names_from_every_level_map_to_one_key() -> None:
    assert {department_key_for(n) for n in ("公安部", "省公安厅", "市公安局")} == {"public_security"}
    assert department_key_for("人力资源社会保障部") == department_key_for("省人力资源社会保障厅") == "hrss"
    assert department_key_for("国家医保局") == "medical_insurance"
    assert set(PKI_BASELINE) <= set(BY_KEY)


def test_transfers_between_provinces_are_offered_as_joint_cases(catalog: Catalog) -> None:
    for name in ("企业职工基本养老保险关系转移接续", "工作调动户口迁移", "基本医疗保险关系转移接续"):
        [m] = catalog.search(name, limit=1)
        assert m.name == name and "joint" in m.modes


def test_a_query_prints_and_a_filing_only_records(catalog: Catalog) -> None:
    assert catalog.search("社会保险参保缴费记录查询")[0].result_kind == "printout"
    assert catalog.search("义诊活动备案")[0].result_kind == "record"
    assert catalog.search("学历公证")[0].result_kind == "certificate"


def test_a_province_may_publish_a_shorter_time_limit(catalog: Catalog) -> None:
    licence = catalog.get("KS2020-044")
    assert licence.time_limit_for("330000") == 3
    assert licence.time_limit_for("340000") == licence.time_limit_days == 7


def test_search_finds_by_code_legacy_code_name_and_keyword(catalog: Catalog) -> None:
    assert catalog.search("KS35-043")[0].name == "营业执照遗失补领、换发"
    assert catalog.search("KS2020-044")[0].code == "KS35-043"
    assert catalog.get("KS2020-044") is catalog.get("KS35-043")
    assert [m.code for m in catalog.search("营业执照")] == ["KS35-043"]
    assert {m.name for m in catalog.search("户口迁移")} >= {"夫妻投靠户口迁移", "子女投靠父母户口迁移"}
    assert all("公积金" in m.name + m.scenario and "提取" in m.name + m.scenario
               for m in catalog.search("公积金 提取"))
    assert len(catalog.search("KS34")) == 22


def test_an_empty_search_says_what_to_type() -> None:
    with pytest.raises(InvalidRequest, match="query"):
        load_catalog().search("  ")


@needs_seeds
def test_the_shipped_file_is_what_the_build_script_makes_from_the_texts() -> None:
    assert build_catalog.main(["--check", "--seeds", str(SEEDS)]) == 0


def test_a_federation_made_for_the_catalog_can_seal_for_every_lead_department(catalog: Catalog) -> None:
    from nodes.cli import catalog_provinces

    provinces = catalog_provinces()
    leads = {m.lead_department for m in catalog}
    for p in provinces:
        assert leads <= set(p.departments), p.name
    shanghai = next(p for p in provinces if p.code == "310000")
    assert shanghai.departments["public_security"] == "上海市公安局"  # the PKI's own names stay
    assert shanghai.departments["medical_insurance"] == "上海市医疗保障局"


def test_the_command_line_searches_the_shipped_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from nodes.cli import main

    assert main(["catalog", "search", "营业执照", "--province", "330000", "--json"]) == 0
    [found] = json.loads(capsys.readouterr().out)
    assert (found["code"], found["time_limit_here"]) == ("KS35-043", 3)
    assert main(["catalog", "search", "户口迁移"]) == 0
    assert "工作调动户口迁移" in capsys.readouterr().out
    assert main(["catalog", "search", "没有这个事项"]) == 1
