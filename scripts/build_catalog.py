#!/usr/bin/env python3
"""Rebuild exchange/data/matters.json from the policy texts in ../shared/seeds/.

  python scripts/build_catalog.py [--seeds DIR] [--check]

Sources (see the seeds' README):
- 002, the Anhui work plan: the national list of 140 (58 + 74 + 8) one item per line, with
  province-level lead and cooperating departments; every name is checked against 001 (the
  State Council list itself) or 004 (the municipal table), so a parsing slip cannot pass.
- 003, 国办发〔2022〕34号: the 22 matters added in 2022 (tab-separated).
- 000, the regional agreement: 36 + 12 matters, all of them already in the two national lists;
  they are matched by normalised name and only add list membership.
Defaults the texts do not give (materials, time limits, result kinds, modes) follow the kind of
matter, decided from its name and scenario by the rules in ``classify``. So does the retention
period (保管期限) of a matter's materials, from ``retention``: the seeds ask for electronic
archiving (电子归档, 001; 003) but give no periods, so the periods are ours, each resting on
the archive rule it names (see RETENTION_RULES).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exchange.departments import department_key_for  # noqa: E402



def default_seeds() -> Path:
    """$TONGBAN_SEEDS, else ../shared/seeds next to the checkout (or next to its worktree folder)."""
    if os.environ.get("TONGBAN_SEEDS"):
        return Path(os.environ["TONGBAN_SEEDS"])
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / "shared" / "seeds").is_dir():
            return base / "shared" / "seeds"
    return ROOT.parent / "shared" / "seeds"

OUT = ROOT / "exchange" / "data" / "matters.json"
SEEDS = {
    "regional": "000_a1f9668009bed419.txt",
    "national_2020": "001_07234ea457875a6e.txt",
    "anhui_plan": "002_941487466f2a6cac.txt",
    "national_2022": "003_7df92701876e6af2.txt",
    "municipal": "004_0d21fb7026870303.txt",
}
# Codes the walking skeleton shipped with; they keep resolving to the same matters.
LEGACY_CODES = {
    "营业执照遗失补领、换发": "KS2020-044",
    "开具户籍类证明": "KS2020-013",
    "失业登记": "KS2020-005",
}
# Per-province time limits that are shorter than the national default (承诺时限), as examples
# of the override a province publishes in its own 办事指南.
PROVINCE_TIME_LIMITS = {
    "营业执照遗失补领、换发": {"330000": 3},
    "失业登记": {"310000": 5},
}
# 保管期限: how long the materials of a case stay write-once in the nodes' object stores, by the
# first rule that matches the matter. The seeds name no periods; these are our defaults, each
# resting on the archive rule in its basis, read from the published rules as we know them and
# not re-checked against their current text when this catalog was built: the archives office
# (档案馆) of a deploying province confirms or overrides them before production. 永久
# (permanent) is kept as 100 years: S3 object lock needs a date, and a permanent record is
# handed over to the archive (移交进馆) long before, outside tongban.
PERMANENT_YEARS = 100
RETENTION_RULES: list[tuple[str, Callable[[str, str, str], bool], int, str]] = [
    # (what the rule matches, test on (name, kind, lead department), years, basis)
    ("查询、核验、资格认证、备案", lambda name, kind, lead: kind in {"query", "entitlement_check", "filing"}, 10,
     "《机关文件材料归档范围和文书档案保管期限规定》（国家档案局令第8号）：一般性事务材料定期10年"),
    ("户口、户籍", lambda name, kind, lead: "户口" in name and kind != "issuance", PERMANENT_YEARS,
     "户籍档案（户口登记材料）由公安机关永久保管"),
    ("婚姻登记", lambda name, kind, lead: "婚" in name and lead == "civil_affairs", PERMANENT_YEARS,
     "《婚姻登记档案管理办法》（民政部、国家档案局）：婚姻登记档案长期保存（按100年计）"),
    ("不动产登记", lambda name, kind, lead: "不动产" in name, PERMANENT_YEARS,
     "《不动产登记暂行条例》第十三条：不动产登记簿永久保存，登记原始资料随登记簿保管"),
    ("养老保险", lambda name, kind, lead: "养老" in name, PERMANENT_YEARS,
     "《社会保险业务档案管理规定（试行）》（人社部令第3号）：养老保险权益记录须终身可查，按永久保管"),
    ("企业登记", lambda name, kind, lead: lead == "market" and kind == "registration", PERMANENT_YEARS,
     "企业登记档案（设立、变更、注销）由登记机关永久保管，与其他登记簿同"),
    ("公证", lambda name, kind, lead: kind == "notarisation", PERMANENT_YEARS,
     "《公证档案管理办法》（司法部、国家档案局）：涉及身份、学历等事实的公证档案永久保管"),
    ("缴费、结算、提取", lambda name, kind, lead: kind == "payment", 30,
     "《会计档案管理办法》（财政部、国家档案局令第79号）：会计凭证保管30年"),
    ("其余登记、证明、许可、转移", lambda name, kind, lead: True, 30,
     "《机关文件材料归档范围和文书档案保管期限规定》（国家档案局令第8号）：本机关业务材料定期30年"),
]
SECTION_BATCHES = {"一": "2020年底前", "二": "2021年底前", "三": "2021年以后"}


_FULLWIDTH = str.maketrans({",": "，", "(": "（", ")": "）", ":": "：", ";": "；"})


def display(text: str) -> str:
    """NFKC folded Chinese punctuation to ASCII; put it back for people to read."""
    return text.translate(_FULLWIDTH)


def normalise(text: str) -> str:
    """Compare names across texts: NFKC, no whitespace, ASCII punctuation."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", "", text).replace("“", '"').replace("”", '"')


def _clean_pdf_line(raw: str) -> str:
    # The Anhui PDF puts a spurious space before every Kangxi-radical glyph and uses the radical
    # 又 where it means 口 (户口, 进出口); undo both before folding the radicals with NFKC.
    line = re.sub(r" +(?=[\u2e80-\u2fdf/])", "", raw).replace("\u2f1c", "口")
    return unicodedata.normalize("NFKC", line).strip()


def _departments(text: str) -> list[str]:
    keys: list[str] = []
    for part in re.split(r"[、,，]", text):
        key = department_key_for(part)
        if key and key not in keys:
            keys.append(key)
    return keys


def parse_national_2020(seeds: Path) -> list[dict]:
    text = (seeds / SEEDS["anhui_plan"]).read_text(encoding="utf-8")
    section = None
    declared: dict[str, int] = {}
    items = []
    for raw in text.splitlines():
        line = _clean_pdf_line(raw)
        head = re.match(r"^([一二三])、\s*\d{4}年.*?\(\s*(\d+)项\)", line)
        if head:
            section = head.group(1)
            declared[section] = int(head.group(2))
            continue
        m = re.match(r"^(\d+) ?(\S+) (\S+) (\S+)(?: (.*))?$", line)
        if not (m and section):
            continue
        seq, name, scenario, lead, rest = m.groups()
        coop_text = ""
        inner = re.search(r"\(配合单位:(.*?)\)", lead)
        if inner:
            coop_text = inner.group(1)
        lead = re.sub(r"\(.*?\)", "", lead)
        if section != "三":  # the third list's last column is a deadline, not departments
            coop_text = ",".join(filter(None, [coop_text, (rest or "").strip()]))
        items.append({
            "section": section, "seq": int(seq), "name": name, "scenario": scenario,
            "lead": lead, "cooperating": coop_text,
        })
    for section, count in declared.items():
        got = sorted(i["seq"] for i in items if i["section"] == section)
        if got != list(range(1, count + 1)):
            raise SystemExit(f"seed 002 list {section}: expected items 1..{count}, parsed {got}")
    return items


def parse_national_2022(seeds: Path) -> list[dict]:
    text = (seeds / SEEDS["national_2022"]).read_text(encoding="utf-8")
    items = []
    for line in text.splitlines():
        cols = line.split("\t")
        if len(cols) >= 4 and cols[0].strip().isdigit():
            items.append({
                "seq": int(cols[0]), "name": normalise(cols[1]), "scenario": normalise(cols[2]),
                "lead": cols[3].strip(), "cooperating": cols[4].strip() if len(cols) > 4 else "",
                "deadline": re.split(r"[,;]", normalise(cols[5]))[0] if len(cols) > 5 else "",
            })
    declared = int(re.search(r"\(共\s*(\d+)\s*项\)", unicodedata.normalize("NFKC", text)).group(1))  # type: ignore[union-attr]
    if [i["seq"] for i in items] != list(range(1, declared + 1)):
        raise SystemExit(f"seed 003: expected {declared} items, parsed {len(items)}")
    return items


def parse_regional(seeds: Path) -> dict[str, list[str]]:
    """The regional agreement's two lists as blocks of text, one per item, in order."""
    text = (seeds / SEEDS["regional"]).read_text(encoding="utf-8")
    lists: dict[str, list[str]] = {"regional-2023": [], "regional-2022-additions": []}
    current = None
    for raw in text.splitlines():
        line = unicodedata.normalize("NFKC", raw).strip()
        if "事项清单(共" in line.replace(" ", ""):
            current = "regional-2023"
            continue
        if line.startswith("2022 年新增") or line.startswith("2022年新增"):
            current = "regional-2022-additions"
            continue
        if current is None or not line or line.startswith(("序号", "注:", "项")):
            continue
        m = re.match(r"^(\d+)(?:\s+(.*))?$", line)
        if m and int(m.group(1)) == len(lists[current]) + 1:
            lists[current].append(m.group(2) or "")
        elif lists[current]:
            lists[current][-1] += line
    return lists


def classify(name: str, scenario: str) -> dict:
    """Kind of matter → modes, materials, time limit (working days) and result kind."""
    joint = any(w in scenario for w in ("转入地", "迁入地", "转出地", "迁出地", "新考核管理部门"))
    if joint:
        kind = "transfer"
    elif any(w in name for w in ("查询", "核验", "打印")):
        kind = "query"
    elif "公证" in name:
        kind = "notarisation"
    elif "资格认证" in name or "认证" in name and "联网" in name:
        kind = "entitlement_check"
    elif any(w in name for w in ("结算", "缴税", "申报", "汇缴", "补缴", "还清", "偿还", "提取", "支付", "退还")):
        kind = "payment"
    elif "备案" in name:
        kind = "filing"
    elif any(w in name for w in ("许可", "审批", "核准", "审查", "注册", "认定")):
        kind = "permit"
    elif "登记" in name or "开户" in name:
        kind = "registration"
    else:
        kind = "issuance"  # 证明, 证件, 卡: something is issued
    online = "网上" in scenario or "网" in name or kind in {"query", "payment", "entitlement_check"}
    at_point = "直接结算" in scenario or "持社会保障卡直接结算" in scenario
    modes = (["online"] if online or at_point else []) + ([] if at_point else ["proxy"])
    if joint:
        modes.append("joint")
    days = {
        "query": 1, "payment": 5, "entitlement_check": 5, "filing": 5, "registration": 5,
        "issuance": 7, "notarisation": 15, "transfer": 15, "permit": 20,
    }[kind]
    result = {
        "query": "printout", "payment": "record", "entitlement_check": "record", "filing": "record",
    }.get(kind, "certificate")
    materials = [{"kind": "id_card", "name": "申请人身份证明"}]
    if kind != "query":
        materials.append({"kind": "application_form", "name": f"{name}申请表（签字）"})
    if kind == "notarisation":
        materials.append({"kind": "supporting_document", "name": "待公证的证书或证明原件扫描件"})
    if kind == "transfer":
        materials.append({"kind": "supporting_document", "name": "转出地或迁出地的相关证明（如有）"})
    return {"kind": kind, "modes": modes, "time_limit_days": days, "result_kind": result,
            "required_materials": materials}


def retention(name: str, kind: str, lead: str) -> dict:
    """How long the matter's materials are kept write-once, and the rule that says so."""
    for _, matches, years, basis in RETENTION_RULES:
        if matches(name, kind, lead):
            return {"retention_years": years, "retention_basis": basis}
    raise AssertionError("the last retention rule matches every matter")


def build(seeds: Path) -> list[dict]:
    n001 = normalise((seeds / SEEDS["national_2020"]).read_text(encoding="utf-8"))
    n004 = normalise((seeds / SEEDS["municipal"]).read_text(encoding="utf-8"))
    records: list[dict] = []
    for index, item in enumerate(parse_national_2020(seeds), start=1):
        name = item["name"]
        if normalise(name) not in n001 and normalise(name) not in n004:
            raise SystemExit(f"seed 002 item {name!r} is in neither 001 nor 004; the parse slipped")
        lead = department_key_for(item["lead"])
        if lead is None:
            raise SystemExit(f"no department key for {item['lead']!r} ({name}); extend exchange/departments.py")
        records.append(_record(
            code=f"KS35-{index:03d}", name=display(name), scenario=item["scenario"], lead=lead,
            cooperating=[k for k in _departments(item["cooperating"]) if k != lead],
            listing={"list": "national-2020", "batch": SECTION_BATCHES[item["section"]], "seq": item["seq"],
                     "source": "国办发〔2020〕35号"},
        ))
    for item in parse_national_2022(seeds):
        lead = department_key_for(item["lead"])
        if lead is None:
            raise SystemExit(f"no department key for {item['lead']!r}; extend exchange/departments.py")
        records.append(_record(
            code=f"KS34-{item['seq']:03d}", name=item["name"], scenario=item["scenario"], lead=lead,
            cooperating=[k for k in _departments(item["cooperating"]) if k != lead],
            listing={"list": "national-2022", "batch": item["deadline"], "seq": item["seq"],
                     "source": "国办发〔2022〕34号"},
        ))
    by_name = {normalise(r["name"]): r for r in records}
    if len(by_name) != len(records):
        raise SystemExit("two national matters share a normalised name")
    for list_name, blocks in parse_regional(seeds).items():
        for seq, block in enumerate(blocks, start=1):
            record = _match(normalise(block), by_name)
            record["lists"].append({"list": list_name, "batch": "2023-01-31 框架合作协议", "seq": seq,
                                    "source": "政务服务“跨省通办”框架合作协议"})
    return records


def _match(block: str, by_name: dict[str, dict]) -> dict:
    """The national matter a regional item is: the longest name the block starts with, or,
    for the agreement's typing slips (多激 for 多缴), the closest name at the same length."""
    starts = [n for n in by_name if block.startswith(n)]
    if starts:
        return by_name[max(starts, key=len)]
    scored = [(difflib.SequenceMatcher(None, n, block[:len(n)]).ratio(), n) for n in by_name]
    ratio, name = max(scored)
    if ratio < 0.9:
        raise SystemExit(f"regional item {block[:40]!r} matches no national matter (best {name}, {ratio:.2f})")
    return by_name[name]


def _record(*, code: str, name: str, scenario: str, lead: str, cooperating: list[str], listing: dict) -> dict:
    name, scenario = display(name), display(scenario)
    rules = classify(name, scenario)
    record = {
        "code": code,
        "aliases": [LEGACY_CODES[name]] if name in LEGACY_CODES else [],
        "name": name,
        "scenario": scenario,
        "kind": rules["kind"],
        "lead_department": lead,
        "cooperating_departments": cooperating,
        "lists": [listing],
        "modes": rules["modes"],
        "required_materials": rules["required_materials"],
        "time_limit_days": rules["time_limit_days"],
        "time_limit_overrides": PROVINCE_TIME_LIMITS.get(name, {}),
        "result_kind": rules["result_kind"],
        **retention(name, rules["kind"], lead),
    }
    if name == "营业执照遗失补领、换发":  # the walking skeleton's wording of its two materials
        record["required_materials"] = [
            {"kind": "id_card", "name": "法定代表人身份证明"},
            {"kind": "application_form", "name": "营业执照补领申请书（签字）"},
        ]
    return record


def render(records: list[dict]) -> str:
    lines = ["["]
    for i, r in enumerate(records):
        body = json.dumps(r, ensure_ascii=False, separators=(", ", ": "))
        lines.append(f"  {body}{',' if i < len(records) - 1 else ''}")
    lines.append("]")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=Path, default=None)
    p.add_argument("--check", action="store_true", help="fail if the shipped file differs")
    args = p.parse_args(argv)
    text = render(build(args.seeds or default_seeds()))
    if args.check:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run scripts/build_catalog.py", file=sys.stderr)
            return 1
        print("catalog is up to date")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}: {text.count(chr(10)) - 2} matters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
