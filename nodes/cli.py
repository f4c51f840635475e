"""The `tongban` command line. It parses, calls the library and renders; nothing more."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path

from exchange.errors import TongbanError


def _node(args: argparse.Namespace) -> int:
    from nodes.config import NodeConfig
    from nodes.server import serve_forever

    serve_forever(NodeConfig.load(Path(args.config)), ready_file=args.ready_file)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from nodes.demo import run_demo

    return run_demo(Path(args.workdir).resolve(), keep=args.keep_running)


def catalog_provinces():  # type: ignore[no-untyped-def]
    """The default provinces, each with every department the catalog names (exchange/departments.py),
    so that any matter's lead department can seal its results."""
    import dataclasses

    from exchange.departments import federation_departments
    from signing.pki import default_provinces

    return [
        dataclasses.replace(p, departments={
            **federation_departments(p.name, municipality=p.name.endswith("市")), **p.departments,
        })
        for p in default_provinces()
    ]


def _pki_init(args: argparse.Namespace) -> int:
    from signing.pki import default_provinces, init_federation

    operators = [tuple(op.split(":", 2)) for op in args.operator]
    provinces = catalog_provinces() if args.catalog_departments else default_provinces()
    fed = init_federation(Path(args.directory), provinces=provinces, operators=operators)  # type: ignore[arg-type]
    print(f"federation created in {fed.directory}: provinces {', '.join(sorted(fed.provinces))}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from signing.pki import Federation
    from signing.verify import verify_sealed_pdf

    federation = Federation.open(Path(args.pki))
    pdf = Path(args.file).read_bytes()
    report = verify_sealed_pdf(
        pdf, trust=federation.trust(), competent_province=args.province,
        competent_department=args.department, issued_sha256=args.issued_sha256,
    )
    print(json.dumps(report.summary(), ensure_ascii=False, indent=2) if args.json else report.render())
    return 0 if report.passed else 1


def _catalog_search(args: argparse.Namespace) -> int:
    """收件标准查询: from the shipped catalog, or from a node over gRPC with --node."""
    from google.protobuf.json_format import MessageToDict

    from nodes.translate import matter_to_pb

    if args.node:
        from nodes.clients import WindowClient, operator_channel
        from signing.pki import Federation

        federation = Federation.open(Path(args.pki))
        with operator_channel(federation, province=args.province, operator_id=args.operator, address=args.node) as ch:
            matters = list(WindowClient(ch).search_catalog(args.text, limit=args.limit).matters)
    else:
        from nodes.wiring import load_catalog

        matters = [matter_to_pb(m, province=args.province or "") for m in load_catalog().search(args.text, limit=args.limit)]
    if args.json:
        print(json.dumps([MessageToDict(m, preserving_proto_field_name=True) for m in matters], ensure_ascii=False, indent=2))
        return 0 if matters else 1
    for m in matters:
        lists = ", ".join(f"{l.list}#{l.seq}" for l in m.lists)
        print(f"{m.code}  {m.name}")
        print(f"    {m.scenario}")
        print(f"    牵头 {m.lead_department}  配合 {', '.join(m.cooperating_departments) or '-'}  "
              f"方式 {'/'.join(m.modes)}  时限 {m.time_limit_here or m.time_limit_days} 天  结果 {m.result_kind}  [{lists}]")
        print(f"    材料: {'; '.join(f'{r.name} ({r.kind})' for r in m.required_materials)}")
    if not matters:
        print(f"no matter matches {args.text!r}", file=sys.stderr)
        return 1
    return 0


def _monitor(args: argparse.Namespace) -> int:
    """监测评估 of one node, asked as a window clerk or a department officer."""
    from google.protobuf.json_format import MessageToDict

    from nodes.clients import OfficerClient, WindowClient, operator_channel
    from signing.pki import Federation

    federation = Federation.open(Path(args.pki))
    with operator_channel(federation, province=args.province, operator_id=args.operator, address=args.node) as ch:
        client = OfficerClient(ch) if args.role == "officer" else WindowClient(ch)
        report = client.monitor(due_within_days=args.days, matter_code=args.matter or "",
                                partner_province=args.partner or "", since=args.since or "")
    if args.json:
        print(json.dumps(MessageToDict(report, preserving_proto_field_name=True), ensure_ascii=False, indent=2))
        return 0
    print(f"node {report.node} at {report.at}: due within {report.due_within_days} days")
    print(f"{'matter':<10} {'partner':<8} {'open':>5} {'overdue':>8} {'due':>5} {'补正':>5}")
    for b in report.buckets:
        print(f"{b.matter_code:<10} {b.partner_province:<8} {b.open:>5} {b.overdue:>8} {b.due_soon:>5} {b.paused:>5}")
    print(f"{'matter':<10} {'decided':>8} {'approved':>9} {'median h':>9} {'in time':>8}")
    for t in report.throughput:
        median = f"{t.median_handling_hours:.1f}" if t.median_handling_hours >= 0 else "-"
        print(f"{t.matter_code:<10} {t.decided:>8} {t.approved:>9} {median:>9} {t.within_time_limit:>8}")
    print("totals: " + ", ".join(f"{k} {v}" for k, v in sorted(report.totals.items())))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tongban", description="跨省通办 provincial node and tools")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    node = sub.add_parser("node", help="run a provincial node")
    node.add_argument("--config", required=True)
    node.add_argument("--ready-file", help="write the bound port here once serving")
    node.set_defaults(func=_node)

    demo = sub.add_parser("demo", help="two nodes on loopback carry one case end to end")
    demo.add_argument("--workdir", default="tongban-demo")
    demo.add_argument("--keep-running", action="store_true")
    demo.set_defaults(func=_demo)

    pki = sub.add_parser("pki", help="federation PKI for development")
    pki_sub = pki.add_subparsers(dest="pki_command", required=True)
    init = pki_sub.add_parser("init", help="create a root, province CAs, node, seal and operator certificates")
    init.add_argument("directory")
    init.add_argument("--operator", action="append", default=[], metavar="PROVINCE:ROLE:ID")
    init.add_argument("--catalog-departments", action="store_true",
                      help="issue seals for every department the matter catalog names, not only the six defaults")
    init.set_defaults(func=_pki_init)

    verify = sub.add_parser("verify", help="verify a sealed PDF offline with the federation's trust material")
    verify.add_argument("file")
    verify.add_argument("--pki", required=True, help="federation directory")
    verify.add_argument("--province", help="competent province code to require")
    verify.add_argument("--department", help="competent department key to require")
    verify.add_argument("--issued-sha256", help="SHA-256 the competent node recorded as issued")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=_verify)

    catalog = sub.add_parser("catalog", help="the catalog of cross-province matters (事项目录)")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    search = catalog_sub.add_parser("search", help="收件标准查询 by code, name or keyword")
    search.add_argument("text")
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--json", action="store_true")
    search.add_argument("--node", help="ask this node over gRPC (needs --pki, --province, --operator)")
    search.add_argument("--pki")
    search.add_argument("--province", help="show this province's time limits")
    search.add_argument("--operator", help="window clerk's operator id")
    search.set_defaults(func=_catalog_search)

    mon = sub.add_parser("monitor", help="监测评估: open, overdue, due cases and handling times of a node")
    mon.add_argument("--node", required=True, help="address of the node")
    mon.add_argument("--pki", required=True)
    mon.add_argument("--province", required=True, help="the node's province (operators ask their own)")
    mon.add_argument("--operator", required=True)
    mon.add_argument("--role", choices=("window", "officer"), default="officer")
    mon.add_argument("--days", type=int, default=3, help="count cases due within this many days")
    mon.add_argument("--matter")
    mon.add_argument("--partner", help="partner province code")
    mon.add_argument("--since", help="ISO 8601: throughput of decisions from then on")
    mon.add_argument("--json", action="store_true")
    mon.set_defaults(func=_monitor)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pyHanko logs a traceback for every document it refuses and warns that we never fetch
    # revocation data online (by design); our verification report says what matters.
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.ERROR)
    try:
        return int(args.func(args))
    except TongbanError as exc:
        print(f"tongban: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
