"""The `tongban` command line. It parses, calls the library and renders; nothing more."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from exchange.errors import TongbanError


def _node(args: argparse.Namespace) -> int:
    from nodes.config import NodeConfig
    from nodes.cpu_policy import apply_cpu_policy
    from nodes.memory import keep_large_blocks
    from nodes.server import serve_forever

    keep_large_blocks()
    config = NodeConfig.load(Path(args.config))
    apply_cpu_policy(config.cpu_policy)  # before serving: every thread it starts inherits it
    serve_forever(config, ready_file=args.ready_file)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from nodes.demo import run_demo

    return run_demo(Path(args.workdir).resolve(), keep=args.keep_running)


def _console(args: argparse.Namespace) -> int:
    """Serve the window console for a node, or put a clerk's key into its keyring (--enrol)."""
    import getpass
    import os

    from nodes.config import NodeConfig
    from nodes.console.serve import is_loopback, keyring_of, serve_console, settings_for, split_listen
    from nodes.console.ukey import SignInRefused, enrol

    config = NodeConfig.load(Path(args.config))
    keyring = Path(args.keyring) if args.keyring else keyring_of(config)
    if args.enrol:
        pin = os.environ.get(args.pin_env, "") if args.pin_env else ""
        if not pin:
            pin = getpass.getpass(f"PIN for {args.enrol}: ")
            if getpass.getpass("the same PIN again: ") != pin:
                print("tongban: the two PINs differ; nothing was enrolled", file=sys.stderr)
                return 2
        settings = settings_for(config, keyring=keyring)
        try:
            path = enrol(keyring, federation=settings.federation, province=config.province,
                         operator_id=args.enrol, pin=pin)
        except SignInRefused as refused:
            print(f"tongban: {refused}", file=sys.stderr)
            return 2
        print(f"{args.enrol} enrolled in {path.parent}: signs in to the console with that PIN")
        return 0
    if bool(args.tls_cert) != bool(args.tls_key):
        print("tongban: give both --tls-cert and --tls-key, or neither", file=sys.stderr)
        return 2
    tls = bool(args.tls_cert)
    if not tls and not is_loopback(split_listen(args.listen)[0]):
        print(f"tongban: the console would take clerks' PINs in clear on {args.listen}; beyond loopback give it "
              "--tls-cert and --tls-key", file=sys.stderr)
        return 2
    settings = settings_for(config, keyring=keyring, secure_cookies=tls)
    scheme = "https" if tls else "http"
    print(f"window console of {config.province} on {scheme}://{args.listen} (node {config.listen}, keyring {keyring})",
          flush=True)
    serve_console(settings, listen=args.listen, tls_cert=Path(args.tls_cert) if tls else None,
                  tls_key=Path(args.tls_key) if tls else None)
    return 0


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
    from signing.pki import PASSPHRASE_ENV, key_passphrase

    print(f"private keys encrypted with the passphrase in {PASSPHRASE_ENV}" if key_passphrase() else
          f"private keys NOT encrypted at rest: set {PASSPHRASE_ENV} before `pki init` to encrypt them")
    return 0


def _pki_token_seal(args: argparse.Namespace) -> int:
    from signing.hsm import Pkcs11Token, generate_seal_key, seal_key_label
    from signing.pki import Federation

    fed = Federation.open(Path(args.directory))
    fed.seal_paths(args.province, args.department)  # refuse an unknown department before touching the token
    token = Pkcs11Token(module=args.module, token_label=args.token)
    public = generate_seal_key(token, province_code=args.province, department_key=args.department)
    fed.certify_token_seal(args.province, args.department, public_key=public)
    print(f"seal key {seal_key_label(args.province, args.department)} generated in token {args.token!r} and "
          "certified; run the node with TONGBAN_PKCS11_MODULE, TONGBAN_PKCS11_TOKEN and TONGBAN_PKCS11_PIN")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from signing.pki import Federation
    from signing.verify import verify_sealed_pdf

    federation = Federation.open(Path(args.pki))
    try:
        pdf = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"tongban: cannot read {args.file} ({exc.strerror}); give the path of the PDF to verify",
              file=sys.stderr)
        return 2
    report = verify_sealed_pdf(
        pdf, trust=federation.trust(), competent_province=args.province,
        competent_department=args.department, issued_sha256=args.issued_sha256,
    )
    print(json.dumps(report.summary(), ensure_ascii=False, indent=2) if args.json else report.render())
    # 0 print, 1 refused, 3 indeterminate (retry after fresh CRLs): scripts can tell them apart.
    return 0 if report.passed else 3 if report.verdict == "INDETERMINATE" else 1


def _issuer(value: str) -> str | None:
    return None if value == "root" else value


def _pki_crl_publish(args: argparse.Namespace) -> int:
    from signing.pki import Federation

    fed = Federation.open(Path(args.directory))
    for issuer in args.issuer:
        fed.reissue_crl(_issuer(issuer))
        print(f"published a fresh CRL for {issuer}")
    return 0


def _pki_crl_show(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from cryptography import x509

    from signing.pki import Federation

    fed = Federation.open(Path(args.directory))
    print(f"{'issuer':<8} {'number':>6}  {'this update (UTC)':<20} {'next update (UTC)':<20} revoked  state")
    for issuer in ["root", *sorted(fed.provinces)]:
        crl = x509.load_pem_x509_crl(fed.crl_pem(_issuer(issuer)))
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        stale = crl.next_update_utc is not None and crl.next_update_utc <= datetime.now(timezone.utc)
        print(f"{issuer:<8} {number:>6}  {crl.last_update_utc:%Y-%m-%d %H:%M:%S}  "
              f"{crl.next_update_utc:%Y-%m-%d %H:%M:%S}  {len(list(crl)):>7}  {'STALE' if stale else 'current'}")
    return 0


def _pki_crl_fetch(args: argparse.Namespace) -> int:
    from nodes.config import NodeConfig
    from nodes.directory import RevocationExchange
    from nodes.tls import channel_credentials
    from signing.pki import Federation

    config = NodeConfig.load(Path(args.config))
    fed = Federation.open(config.pki_dir)
    cert, key = fed.node_tls(config.province)
    exchange = RevocationExchange(
        federation=fed, peers=config.peers,
        credentials=channel_credentials(fed, cert_pem=cert, key_pem=key, province_of_cert=config.province))
    failed = 0
    for outcome in exchange.refresh_all():
        if outcome.error:
            failed += 1
            print(f"{outcome.peer}: {outcome.error}")
            continue
        print(f"{outcome.peer}: installed {', '.join(outcome.installed) or '-'}; "
              f"unchanged {', '.join(outcome.unchanged) or '-'}"
              + (f"; refused {'; '.join(outcome.refused)}" if outcome.refused else ""))
    return 1 if failed else 0


def _pki_revoke(args: argparse.Namespace) -> int:
    from signing.pki import Federation

    fed = Federation.open(Path(args.directory))
    cert_path, _ = fed.seal_paths(args.province, args.department)
    fed.revoke(args.province, cert_pem=cert_path.read_bytes())
    print(f"revoked the seal of {args.province}/{args.department}; publish the CRL to partners "
          "(they fetch it through the directory)")
    return 0


def _pki_tsa(args: argparse.Namespace) -> int:
    from signing.pki import Federation

    fed = Federation.open(Path(args.directory))
    for code in args.province:
        fed.issue_tsa(code)
        print(f"issued the timestamp authority certificate of {code}")
    return 0


def _tsa_serve(args: argparse.Namespace) -> int:
    import threading

    from signing.pki import Federation
    from signing.tsa import TimestampAuthority, TsaHttpServer

    host, _, port = args.listen.rpartition(":")
    server = TsaHttpServer(TimestampAuthority.of_province(Federation.open(Path(args.pki)), args.province),
                           host=host or "127.0.0.1", port=int(port)).start()
    print(f"RFC 3161 timestamp authority of {args.province} at {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


_MEDIA_TYPES = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _upload(args: argparse.Namespace) -> int:
    """A window clerk streams a scanned file into the node's object store."""
    from google.protobuf.json_format import MessageToDict

    from nodes.clients import WindowClient, file_chunks, operator_channel
    from nodes.progress import ProgressBar
    from signing.pki import Federation

    path = Path(args.file)
    size = path.stat().st_size
    media_type = args.media_type or _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    bar = ProgressBar(f"upload {path.name}")

    def counted():  # type: ignore[no-untyped-def]
        done = 0
        for chunk in file_chunks(path):
            yield chunk
            done += len(chunk)
            bar.update(done, size)

    federation = Federation.open(Path(args.pki))
    with operator_channel(federation, province=args.province, operator_id=args.operator, address=args.address) as ch:
        ref = WindowClient(ch, timeout=args.timeout).upload(
            counted(), kind=args.kind, file_name=args.file_name or path.name, media_type=media_type
        )
    bar.finish()
    print(json.dumps(MessageToDict(ref, preserving_proto_field_name=True), ensure_ascii=False))
    return 0


def _transfer(args: argparse.Namespace) -> int:
    """Push a stored material to a partner node as this node, resuming where it stopped."""
    from nodes.config import NodeConfig
    from nodes.peers import GrpcPeerGateway
    from nodes.progress import ProgressBar
    from nodes.tls import channel_credentials
    from signing.pki import Federation
    from storage.factory import open_object_store

    config = NodeConfig.load(Path(args.config))
    store = open_object_store(config.object_store)
    stored = store.stat(args.sha256)
    if stored is None:
        print(f"tongban: no material {args.sha256} in this node's store", file=sys.stderr)
        return 2
    federation = Federation.open(config.pki_dir)
    cert, key = federation.node_tls(config.province)
    gateway = GrpcPeerGateway(
        province=config.province, peers=config.peers,
        credentials=channel_credentials(federation, cert_pem=cert, key_pem=key, province_of_cert=config.province),
        resume_patience=args.patience,
    )
    material = {
        "kind": args.kind or stored.metadata.get("kind", "material"),
        "file_name": args.file_name or stored.metadata.get("file_name", stored.sha256[:16]),
        "media_type": stored.media_type, "sha256": stored.sha256, "size": stored.size,
    }
    bar = ProgressBar(f"transfer {material['file_name']} to {args.to}")
    started = time.perf_counter()
    try:
        gateway.push_material(
            args.to, case_number=args.case, material=material,
            chunks=store.iter_chunks(stored.sha256), progress=bar.update,
        )
    finally:
        gateway.close()
    bar.finish()
    resumed = f", resumed at {bar.first_done} bytes" if bar.first_done else ""
    seconds = time.perf_counter() - started
    print(f"transferred {stored.sha256} ({stored.size} bytes) to {args.to} in {seconds:.2f} s{resumed}")
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    """Make a new node key current and re-wrap every data key under it; no material is
    re-encrypted or uploaded again. Run it while the node is stopped."""
    from nodes.config import NodeConfig
    from storage.factory import open_object_store
    from storage.sealing import NodeKeyring, Sealer
    from storage.transfers import PartialUploads

    config = NodeConfig.load(Path(args.config))
    key_file = config.object_store.key_file
    if key_file is None:
        print("tongban: this node does not seal materials (encrypt = false)", file=sys.stderr)
        return 2
    keyring = NodeKeyring.open(key_file, create=False)
    old = [kid for kid in keyring.key_ids]
    new = keyring.rotate()
    store = open_object_store(config.object_store)  # reads the rotated key file
    objects = store.rewrap_keys()  # type: ignore[attr-defined]
    partials = PartialUploads(config.data_dir / "transfers", store=store,
                              sealer=Sealer(NodeKeyring.open(key_file))).rewrap_keys()
    if args.retire_old:
        ring = NodeKeyring.open(key_file)
        for kid in old:
            ring.retire(kid)
    print(f"node key {new} is current; re-wrapped {objects} stored and {partials} partial data keys"
          + (f"; retired {', '.join(old)}" if args.retire_old else f"; old keys {', '.join(old)} kept"))
    return 0


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
    print(f"node {report.node} at {report.at}: due within {report.due_within_days} working days")
    print(f"{'matter':<10} {'partner':<8} {'open':>5} {'overdue':>8} {'due':>5} {'补正':>5}")
    for b in report.buckets:
        print(f"{b.matter_code:<10} {b.partner_province:<8} {b.open:>5} {b.overdue:>8} {b.due_soon:>5} {b.paused:>5}")
    print(f"{'matter':<10} {'decided':>8} {'approved':>9} {'median h':>9} {'in time':>8}")
    for t in report.throughput:
        median = f"{t.median_handling_hours:.1f}" if t.median_handling_hours >= 0 else "-"
        print(f"{t.matter_code:<10} {t.decided:>8} {t.approved:>9} {median:>9} {t.within_time_limit:>8}")
    print("totals: " + ", ".join(f"{k} {v}" for k, v in sorted(report.totals.items())))
    return 0


def _status(args: argparse.Namespace) -> int:
    """The outbox of a node, read from its event store (works while the node is down): per
    partner, messages waiting, the oldest one's age, attempts, last error, refusals. Case
    numbers only, never personal data."""
    from datetime import datetime, timezone

    from exchange.ledger import CaseLedger
    from nodes.config import NodeConfig
    from storage.outbox import outbox_of

    config = NodeConfig.load(Path(args.config))
    ledger = CaseLedger(env=config.event_store.application_env())
    try:
        backlog = outbox_of(ledger.recorder).backlog()
    finally:
        ledger.close()
    now = datetime.now(timezone.utc)

    def age(created_at: str) -> float:
        return (now - datetime.fromisoformat(created_at)).total_seconds() if created_at else 0.0

    rows = [{
        "peer": b.peer, "pending": b.pending, "refused": b.refused, "oldest_case": b.oldest_case_number,
        "oldest_kind": b.oldest_kind, "oldest_age_seconds": round(age(b.oldest_created_at), 1),
        "attempts": b.attempts, "retry_in_seconds": round(b.retry_in_seconds, 1), "last_error": b.last_error,
        "last_refused_case": b.last_refused_case,
    } for b in backlog]
    if args.json:
        print(json.dumps({"node": config.province, "outbox": rows}, ensure_ascii=False, indent=2))
        return 0
    print(f"node {config.province}: outbox")
    if not rows:
        print("  nothing waiting: every message to partners was delivered")
        return 0
    print(f"  {'peer':<8} {'waiting':>7} {'oldest':>9} {'attempts':>8} {'retry in':>9} {'refused':>7}  oldest message / last error")
    for r in rows:
        oldest = f"{r['oldest_kind']} {r['oldest_case']}" if r["pending"] else "-"
        print(f"  {r['peer']:<8} {r['pending']:>7} {_seconds(r['oldest_age_seconds']):>9} {r['attempts']:>8} "
              f"{_seconds(r['retry_in_seconds']):>9} {r['refused']:>7}  {oldest}")
        if r["last_error"]:
            print(f"  {'':<8} last error: {r['last_error']}")
        if r["refused"]:
            print(f"  {'':<8} refused (not retried; last case {r['last_refused_case']}): see the node log")
    return 0


def _seconds(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:.1f} h"
    if value >= 60:
        return f"{value / 60:.1f} min"
    return f"{value:.1f} s"


def _bench(args: argparse.Namespace) -> int:
    from nodes.bench import main as bench_main
    from nodes.memory import keep_large_blocks

    keep_large_blocks()  # the load generator cuts and sends megabytes too, like the consoles it stands for
    return bench_main(args)


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

    console = sub.add_parser("console", help="serve the window console (窗口控制台) for clerks, in Chinese")
    console.add_argument("--config", required=True, help="the window node's config")
    console.add_argument("--listen", default="127.0.0.1:8340", help="host:port of the console (default %(default)s)")
    console.add_argument("--keyring", help="clerks' PIN-protected keys (default: <data_dir>/console/ukeys)")
    console.add_argument("--enrol", metavar="OPERATOR", help="put this window clerk's key into the keyring and exit")
    console.add_argument("--pin-env", metavar="VAR", help="with --enrol: read the PIN from this variable, not a prompt")
    console.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM); needed beyond loopback")
    console.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    console.set_defaults(func=_console)

    bench = sub.add_parser("bench", help="load generator: whole cases/s on loopback nodes against the bound "
                                         "the bare libraries set (docs/performance.md)")
    from nodes.bench import add_arguments as add_bench_arguments

    add_bench_arguments(bench)
    bench.set_defaults(func=_bench)

    pki = sub.add_parser("pki", help="federation PKI for development")
    pki_sub = pki.add_subparsers(dest="pki_command", required=True)
    init = pki_sub.add_parser("init", help="create a root, province CAs, node, seal and operator certificates")
    init.add_argument("directory")
    init.add_argument("--operator", action="append", default=[], metavar="PROVINCE:ROLE:ID")
    init.add_argument("--catalog-departments", action="store_true",
                      help="issue seals for every department the matter catalog names, not only the six defaults")
    init.set_defaults(func=_pki_init)
    crl = pki_sub.add_parser("crl", help="certificate revocation lists")
    crl_sub = crl.add_subparsers(dest="crl_command", required=True)
    publish = crl_sub.add_parser("publish", help="re-issue CRLs (same entries, next number, fresh next update)")
    publish.add_argument("directory")
    publish.add_argument("issuer", nargs="+", help="province code, or 'root'")
    publish.set_defaults(func=_pki_crl_publish)
    show = crl_sub.add_parser("show", help="list the CRLs held, their numbers and freshness")
    show.add_argument("directory")
    show.set_defaults(func=_pki_crl_show)
    fetch = crl_sub.add_parser("fetch", help="pull partners' CRLs through the federation directory now")
    fetch.add_argument("--config", required=True, help="the node's config (peers, pki_dir, province)")
    fetch.set_defaults(func=_pki_crl_fetch)
    revoke = pki_sub.add_parser("revoke", help="revoke a department seal at its province CA")
    revoke.add_argument("directory")
    revoke.add_argument("--province", required=True)
    revoke.add_argument("--department", required=True)
    revoke.set_defaults(func=_pki_revoke)
    token_seal = pki_sub.add_parser("token-seal", help="generate a seal key inside a PKCS#11 token and certify it")
    token_seal.add_argument("directory")
    token_seal.add_argument("--province", required=True)
    token_seal.add_argument("--department", required=True)
    token_seal.add_argument("--module", required=True, help="PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so")
    token_seal.add_argument("--token", required=True, help="token label; the PIN comes from TONGBAN_PKCS11_PIN")
    token_seal.set_defaults(func=_pki_token_seal)
    tsa = pki_sub.add_parser("tsa", help="(re-)issue provinces' timestamp authority certificates")
    tsa.add_argument("directory")
    tsa.add_argument("province", nargs="+")
    tsa.set_defaults(func=_pki_tsa)

    tsa_serve = sub.add_parser("tsa", help="serve a province's RFC 3161 timestamp authority over HTTP")
    tsa_serve.add_argument("--pki", required=True)
    tsa_serve.add_argument("--province", required=True)
    tsa_serve.add_argument("--listen", default="127.0.0.1:3161")
    tsa_serve.set_defaults(func=_tsa_serve)

    verify = sub.add_parser("verify", help="verify a sealed PDF offline with the federation's trust material")
    verify.add_argument("file")
    verify.add_argument("--pki", required=True, help="federation directory (public material and CRLs suffice)")
    verify.add_argument("--province", help="competent province code to require")
    verify.add_argument("--department", help="competent department key to require")
    verify.add_argument("--issued-sha256", help="SHA-256 the competent node recorded as issued")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=_verify)

    from nodes.audit_cli import add_audit_parser

    add_audit_parser(sub)
    from nodes.privacy_cli import add_privacy_parsers

    add_privacy_parsers(sub)

    upload = sub.add_parser("upload", help="upload a scanned material to a window node, with a progress bar")
    upload.add_argument("file")
    upload.add_argument("--kind", required=True, help="material kind, e.g. id_card")
    upload.add_argument("--file-name", help="name to record (default: the file's name)")
    upload.add_argument("--media-type", help="default: from the file extension")
    upload.add_argument("--pki", required=True, help="federation directory")
    upload.add_argument("--province", required=True, help="the window's province code")
    upload.add_argument("--operator", required=True, help="the clerk's operator id")
    upload.add_argument("--address", required=True, help="host:port of the window's node")
    upload.add_argument("--timeout", type=float, default=3600.0)
    upload.set_defaults(func=_upload)

    transfer = sub.add_parser("transfer", help="push a stored material to a partner node, resuming where it stopped")
    transfer.add_argument("--config", required=True, help="this node's config")
    transfer.add_argument("--to", required=True, help="the receiving province code")
    transfer.add_argument("--case", required=True, help="the case the material belongs to")
    transfer.add_argument("--sha256", required=True)
    transfer.add_argument("--kind")
    transfer.add_argument("--file-name")
    transfer.add_argument("--patience", type=float, default=60.0, help="seconds to keep retrying a broken stream")
    transfer.set_defaults(func=_transfer)

    keys = sub.add_parser("keys", help="the node key that wraps the data keys of sealed materials")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser("rotate", help="new node key; re-wrap data keys without re-uploading data")
    rotate.add_argument("--config", required=True)
    rotate.add_argument("--retire-old", action="store_true", help="drop the old keys once nothing needs them")
    rotate.set_defaults(func=_keys_rotate)

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
    mon.add_argument("--days", type=int, default=3, help="count cases due within this many working days (0: only the overdue)")
    mon.add_argument("--matter")
    mon.add_argument("--partner", help="partner province code")
    mon.add_argument("--since", help="ISO 8601: throughput of decisions from then on")
    mon.add_argument("--json", action="store_true")
    mon.set_defaults(func=_monitor)

    status = sub.add_parser("status", help="messages waiting for partner nodes: backlog per peer, oldest, last error")
    status.add_argument("--config", required=True, help="the node's config file (reads its event store)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from nodes.library_logs import quiet_pyhanko_logs

    quiet_pyhanko_logs()
    try:
        return int(args.func(args))
    except TongbanError as exc:
        print(f"tongban: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        grpc = sys.modules.get("grpc")  # imported by the commands that call a node, not here
        if grpc is not None and isinstance(exc, grpc.RpcError):  # the node's answer, for a person
            print(f"tongban: the node answered {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 2
        if isinstance(exc, (ValueError, OSError)):  # an argument or a file the command cannot use
            print(f"tongban: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
