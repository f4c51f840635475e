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


def _pki_init(args: argparse.Namespace) -> int:
    from signing.pki import default_provinces, init_federation

    operators = [tuple(op.split(":", 2)) for op in args.operator]
    fed = init_federation(Path(args.directory), provinces=default_provinces(), operators=operators)  # type: ignore[arg-type]
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
    init.set_defaults(func=_pki_init)

    verify = sub.add_parser("verify", help="verify a sealed PDF offline with the federation's trust material")
    verify.add_argument("file")
    verify.add_argument("--pki", required=True, help="federation directory")
    verify.add_argument("--province", help="competent province code to require")
    verify.add_argument("--department", help="competent department key to require")
    verify.add_argument("--issued-sha256", help="SHA-256 the competent node recorded as issued")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=_verify)

    from nodes.audit_cli import add_audit_parser

    add_audit_parser(sub)
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
