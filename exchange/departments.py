"""Department keys of the federation and how the policy texts name them.

The federation PKI (signing/pki.py default_provinces) knows six departments per province; the
catalog names about twenty. This table is the one place the extra keys are defined, so that a
federation can be initialised with every department the catalog needs (see
``federation_departments``) without the signing package knowing about the catalog."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DepartmentKind:
    key: str
    provincial: str  # name after the province's prefix, e.g. 安徽省 + 司法厅
    municipal: str  # the same for a municipality, e.g. 上海市 + 司法局
    keywords: tuple[str, ...]  # how the texts spell it, national, provincial or municipal


DEPARTMENTS: tuple[DepartmentKind, ...] = (
    # The six the default PKI already issues seals for.
    DepartmentKind("market", "市场监督管理局", "市场监督管理局", ("市场监管", "市场监督", "行政审批局")),
    DepartmentKind("public_security", "公安厅", "公安局", ("公安",)),
    DepartmentKind("hrss", "人力资源和社会保障厅", "人力资源和社会保障局", ("人力资源", "人社")),
    DepartmentKind("civil_affairs", "民政厅", "民政局", ("民政",)),
    DepartmentKind("justice", "司法厅", "司法局", ("司法",)),
    DepartmentKind("health", "卫生健康委员会", "卫生健康委员会", ("卫生健康", "卫健")),
    # The catalog's others.
    DepartmentKind("education", "教育厅", "教育委员会", ("教育",)),
    DepartmentKind("natural_resources", "自然资源厅", "规划和自然资源局", ("自然资源",)),
    DepartmentKind("ecology", "生态环境厅", "生态环境局", ("生态环境",)),
    DepartmentKind("housing", "住房和城乡建设厅", "住房和城乡建设管理委员会", ("住房", "公积金")),
    DepartmentKind("commerce", "商务厅", "商务委员会", ("商务", "投资促进")),
    DepartmentKind("medical_insurance", "医疗保障局", "医疗保障局", ("医保", "医疗保障")),
    DepartmentKind("postal", "邮政管理局", "邮政管理局", ("邮政",)),
    DepartmentKind("drugs", "药品监督管理局", "药品监督管理局", ("药监", "药品监")),
    DepartmentKind("civil_aviation", "民航安全监督管理局", "民航安全监督管理局", ("民航",)),
    DepartmentKind("forestry", "林业局", "绿化和市容管理局", ("林业", "林草")),
    DepartmentKind("transport", "交通运输厅", "交通委员会", ("交通运输",)),
    DepartmentKind("disabled_persons", "残疾人联合会", "残疾人联合会", ("残联",)),
    DepartmentKind("tax", "税务局", "税务局", ("税务",)),
    DepartmentKind("pboc", "人民银行分行", "人民银行分行", ("人民银行", "人行")),
    DepartmentKind("court", "高级人民法院", "高级人民法院", ("法院", "高院")),
    DepartmentKind("water", "水利厅", "水务局", ("水利",)),
    DepartmentKind("customs", "海关", "海关", ("海关",)),
)

BY_KEY = {d.key: d for d in DEPARTMENTS}
PKI_BASELINE = ("market", "public_security", "hrss", "civil_affairs", "justice", "health")


def department_key_for(name_zh: str) -> str | None:
    """The key of a department as a policy text names it (公安部, 省公安厅, 市公安局 → public_security)."""
    for kind in DEPARTMENTS:
        if any(word in name_zh for word in kind.keywords):
            return kind.key
    return None


def federation_departments(prefix: str, *, municipality: bool) -> dict[str, str]:
    """Every department the catalog needs, named for one province (prefix 安徽省, 上海市)."""
    return {
        d.key: prefix + (d.municipal if municipality else d.provincial) for d in DEPARTMENTS
    }
