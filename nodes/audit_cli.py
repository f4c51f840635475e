"""`tongban audit ...`: replay, export and verify a node's log from its configuration (run on the
node's host, reading its store directly, as an auditor with database access would)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from exchange.validation import moment as parse_moment
from exchange.audit import case_log, csv_lines, json_line, render_timeline, replay_log, state_at
from exchange.workdays import CHINA_TIME
from exchange.errors import InvalidRequest, NotAuthorised

PII_ROLE = "auditor-pii"
DISCLOSURE_NOTE = "personal-data-disclosure"


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int, *, label: str, stream: IO[str] | None = None) -> None:
        self.total, self.label = max(total, 1), label
        self.stream = stream or sys.stderr
        self.started = self._last = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        width = 30
        filled = min(width, width * done // self.total)
        rate = done / max(now - self.started, 1e-9)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                          f"({rate:,.0f}/s)")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _config(args: argparse.Namespace) -> Any:
    from nodes.config import NodeConfig

    return NodeConfig.load(Path(args.config))


@contextmanager
def _ledger(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    from exchange.ledger import CaseLedger

    config = _config(args)
    ledger = CaseLedger(env=config.event_store.application_env())
    try:
        yield config, ledger
    finally:
        ledger.close()


def _reveal(args: argparse.Namespace, config: Any, *, what: str) -> bool:
    """Unmasked output only for an auditor whose certificate (in the federation directory, with
    its key, issued by this province's CA and not revoked) has role auditor-pii. Every
    disclosure is recorded in the node's append-only notes: who, when, what."""
    if not getattr(args, "reveal_personal_data", False):
        return False
    if not args.pki or not args.operator:
        raise InvalidRequest("--reveal-personal-data", f"name the auditor with --pki DIR --operator ID "
                             f"(a certificate with role {PII_ROLE})")
    from cryptography import x509

    from nodes.witness import now_iso
    from signing.errors import SigningError
    from signing.identity import identity_from_certificate
    from signing.pki import Federation
    from storage.eventstore import open_log_store

    federation = Federation.open(Path(args.pki))
    try:
        cert_pem, _ = federation.operator_tls(config.province, args.operator)
        cert = x509.load_pem_x509_certificate(cert_pem)
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(federation.province_ca_pem(config.province)))
        revoked = x509.load_pem_x509_crl(federation.crl_pem(config.province)).get_revoked_certificate_by_serial_number(
            cert.serial_number)
        identity = identity_from_certificate(cert)
    except (SigningError, ValueError, TypeError) as exc:
        raise NotAuthorised(f"the certificate of {args.operator} does not check out ({exc}); "
                            "personal data stays masked") from None
    if revoked is not None or identity.role != PII_ROLE or identity.province_code != config.province:
        raise NotAuthorised(f"{args.operator} has role {identity.role!r} at {identity.province_code}"
                            f"{' (revoked)' if revoked is not None else ''}; only role {PII_ROLE} of province "
                            f"{config.province} may see personal data unmasked")
    with open_log_store(config.event_store) as store:
        store.add_note(kind=DISCLOSURE_NOTE, subject=what, document=json.dumps(
            {"operator": args.operator, "fingerprint_sha256": identity.fingerprint_sha256, "at": now_iso(),
             "command": args.audit_command, "what": what}, ensure_ascii=False, sort_keys=True))
    return True


def _total(config: Any) -> int:
    from storage.eventstore import open_log_store

    with open_log_store(config.event_store) as store:
        return store.count_events()


def _timeline(args: argparse.Namespace) -> int:
    with _ledger(args) as (config, ledger):
        reveal = _reveal(args, config, what=args.case_number)
        print(render_timeline(case_log(ledger, args.case_number, node=config.province, reveal=reveal), tz=CHINA_TIME))
    return 0


def _log(args: argparse.Namespace) -> int:
    with _ledger(args) as (config, ledger):
        reveal = _reveal(args, config, what="*")
        bar = ProgressBar(_total(config), label="replay") if args.progress else None
        for entry in replay_log(ledger, node=config.province, after=args.after, limit=args.limit, progress=bar,
                                reveal=reveal):
            print(render_timeline([entry], tz=CHINA_TIME))
        if bar:
            bar.close()
    return 0


def _state_at(args: argparse.Namespace) -> int:
    moment = parse_moment(args.at or "", field="--at")
    with _ledger(args) as (config, ledger):
        reveal = _reveal(args, config, what=args.case_number)
        state = state_at(ledger, args.case_number, version=args.version, moment=moment, reveal=reveal)
    print(json.dumps({"case_number": state.case_number, "node": config.province, "version": state.version,
                      "as_of": state.as_of.isoformat(), **state.fields}, ensure_ascii=False, indent=2))
    return 0


def _export(args: argparse.Namespace) -> int:
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        with _ledger(args) as (config, ledger):
            reveal = _reveal(args, config, what=args.case or "*")
            if args.case:
                entries: Any = iter(case_log(ledger, args.case, node=config.province, reveal=reveal))
                bar = None
            else:
                bar = ProgressBar(_total(config), label="export") if args.output else None
                entries = replay_log(ledger, node=config.province, progress=bar, reveal=reveal)
            lines: Iterator[str] = csv_lines(entries) if args.format == "csv" else (json_line(e) + "\n" for e in entries)
            for line in lines:
                out.write(line)
            if bar:
                bar.close()
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _verify(args: argparse.Namespace) -> int:
    from signing.checkpoint import SignedCheckpoint, verify_signed_checkpoint
    from signing.errors import SigningError
    from signing.pki import Federation
    from nodes.witness import trust_anchors
    from storage.eventstore import open_log_store
    from storage.logcheck import LogReport, Problem, anchors_from, recorded_checkpoints, verify_log

    config = _config(args)
    anchors_pki = trust_anchors(Federation.open(config.pki_dir))
    problems, anchors = [], []
    with open_log_store(config.event_store) as store:
        checkpoints = [(c, "the node's") for c in recorded_checkpoints(store, log=config.province)]
        checkpoints += [(SignedCheckpoint.from_json(Path(f).read_text(encoding="utf-8")), f"{f}'s")
                        for f in args.checkpoint]
        for signed, source in checkpoints:
            try:
                verify_signed_checkpoint(signed, anchors=anchors_pki)
                anchors += anchors_from([signed], source=source)
            except SigningError as exc:
                problems.append(Problem("bad_signature", f"{source} checkpoint: {exc}"))
        bar = ProgressBar(store.count_events(), label="verify") if not args.quiet else None
        report = verify_log(store, node=config.province, anchors=anchors, progress=bar)
        if bar:
            bar.close()
    if problems:
        report = LogReport(node=report.node, entries=report.entries, events=report.events,
                           anchors_checked=report.anchors_checked, problems=tuple(problems) + report.problems,
                           more_problems=report.more_problems)
    print(report.render())
    return 0 if report.passed else 1


def _refusals(args: argparse.Namespace) -> int:
    from exchange.validation import moment
    from nodes.refusals import RefusalLog, since_utc
    from storage.eventstore import open_log_store

    since = since_utc(moment(args.since or "", field="--since"))
    config = _config(args)
    found = RefusalLog(open_store=lambda: open_log_store(config.event_store)).list(
        province=args.province, since=since, limit=args.limit)
    for refusal in found:
        print(json.dumps(vars(refusal), ensure_ascii=False, sort_keys=True) if args.json else refusal.render())
    if not args.json:
        print(f"{len(found)} refusal(s) recorded at the node of {config.province}", file=sys.stderr)
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from nodes.clients import operator_channel
    from signing.pki import Federation
    from tongban_pb import audit_pb2_grpc, common_pb2

    federation = Federation.open(Path(args.pki))
    with operator_channel(federation, province=args.province, operator_id=args.operator,
                          address=args.address) as channel:
        reply = audit_pb2_grpc.AuditServiceStub(channel).EvidenceBundle(
            common_pb2.CaseRef(case_number=args.case_number), timeout=120)
    Path(args.output).write_text(reply.bundle_json, encoding="utf-8")
    print(f"evidence bundle for {args.case_number} written to {args.output}")
    return 0


def _verify_bundle(args: argparse.Namespace) -> int:
    from nodes.evidence import verify_bundle
    from nodes.witness import trust_anchors
    from signing.pki import Federation

    federation = Federation.open(Path(args.pki))  # only certificates, CRLs and the manifest are read
    bundle = json.loads(Path(args.file).read_text(encoding="utf-8"))
    report = verify_bundle(bundle, anchors=trust_anchors(federation), trust=federation.trust())
    print(report.render())
    return 0 if report.passed else 1


def add_audit_parser(sub: Any) -> None:
    audit = sub.add_parser("audit", help="replay, export and verify a node's log")
    a = audit.add_subparsers(dest="audit_command", required=True)

    def cmd(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = a.add_parser(name, help=help)
        p.add_argument("--config", required=True, help="the node's TOML configuration")
        p.set_defaults(func=func)
        return p

    def revealing(p: argparse.ArgumentParser) -> None:
        p.add_argument("--reveal-personal-data", action="store_true",
                       help=f"unmasked names, ID numbers, addresses (needs --pki and --operator with role {PII_ROLE}; "
                            "recorded in the node's notes)")
        p.add_argument("--pki", help="federation directory holding the auditor's certificate")
        p.add_argument("--operator", help="the auditor's operator id")

    p = cmd("timeline", _timeline, "one case's events at this node, readable")
    p.add_argument("case_number")
    revealing(p)
    p = cmd("log", _log, "the node's whole log in recorded order")
    p.add_argument("--after", type=int, default=0, help="start after this notification id")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    revealing(p)
    p = cmd("state-at", _state_at, "the case as this node knew it at a version or a moment")
    p.add_argument("case_number")
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--at", help="ISO 8601 moment with a time zone")
    revealing(p)
    p = cmd("export", _export, "export the log (or one case) as JSON Lines or CSV")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--case", help="only this case")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    revealing(p)
    p = cmd("verify", _verify, "check the hash chain and the signed checkpoints of the whole log")
    p.add_argument("--checkpoint", action="append", default=[],
                   help="a signed checkpoint (JSON) obtained elsewhere, e.g. from a witness")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = cmd("refusals", _refusals, "calls this node refused for who the caller was (or how often it called)")
    p.add_argument("--province", help="only callers with certificates of this province")
    p.add_argument("--since", help="only refusals from this ISO 8601 moment on")
    p.add_argument("--limit", type=int, default=None, help="only the last N")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = a.add_parser("bundle", help="fetch a case's evidence bundle from a node (auditor certificate)")
    p.add_argument("case_number")
    p.add_argument("--pki", required=True, help="federation directory holding the auditor's certificate")
    p.add_argument("--province", required=True)
    p.add_argument("--operator", required=True, help="the auditor's operator id")
    p.add_argument("--address", required=True, help="host:port of the province's node")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_bundle)
    p = a.add_parser("verify-bundle", help="verify an evidence bundle offline with public material only")
    p.add_argument("file")
    p.add_argument("--pki", required=True, help="federation certificates, CRLs and federation.json (no keys needed)")
    p.set_defaults(func=_verify_bundle)
