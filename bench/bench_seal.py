"""Seals/s and verifications/s on one core: tongban's DepartmentSealer and SealVerifier next to
bare pyHanko signing and validating the same document in the same run. No thresholds.

Baselines: bare pyHanko with no timestamp (the least a PAdES signature costs) and bare pyHanko
with the same in-process province TSA (the same cryptographic work as a B-T seal); verification
is compared with pyHanko's validate_pdf_signature on the very same sealed file."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402
from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402
from pyhanko.sign import fields, signers  # noqa: E402
from pyhanko.sign.validation import validate_pdf_signature  # noqa: E402
from pyhanko_certvalidator import ValidationContext  # noqa: E402
from pyhanko.keys import load_certs_from_pemder_data  # noqa: E402

from exchange.ports import CertificateRequest  # noqa: E402
from signing import crl_lookup, names, path_memo, pdfhex  # noqa: E402
from signing.pki import default_provinces, init_federation  # noqa: E402
from signing.render import render_certificate  # noqa: E402
from signing.seal import DepartmentSealer, PadesLevel  # noqa: E402
from signing.tsa import AuthorityTimeStamper, TimestampAuthority  # noqa: E402
from signing.validation import strict_context  # noqa: E402
from signing.verify import SealVerifier  # noqa: E402

SECONDS = 2.0
REQUEST = CertificateRequest(
    case_number="KS-330000-20251123-000042", matter_code="KS2020-044", matter_name="营业执照遗失补领、换发",
    applicant_name="王小明", applicant_id_masked="330106********1234", province_code="330000",
    department_key="market", department_name="浙江省市场监督管理局", issued_on=date(2025, 11, 23),
    verification_code="7Q4K-9XW2-MD3P",
)


def rate(fn: Callable[[], object]) -> float:
    fn()  # warm caches (font, signer, appearance)
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        fn()
        n += 1
    return n / (time.perf_counter() - started)


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the figures claim
    logging.disable(logging.WARNING)  # pyHanko warns about fetching being off, by design
    workdir = Path(tempfile.mkdtemp(prefix="tongban-bench-"))
    try:
        fed = init_federation(workdir / "pki", provinces=default_provinces())
        sealer = DepartmentSealer(federation=fed, province_code="330000")
        lta_sealer = DepartmentSealer(federation=fed, province_code="330000", level=PadesLevel.B_LTA)
        verifier = SealVerifier(trust_source=fed.trust)
        pdf = render_certificate(REQUEST, province_name="浙江省")
        sealed = sealer.seal(pdf, department_key="market")
        sealed_lta = lta_sealer.seal(pdf, department_key="market")

        cert, key = fed.seal_paths("330000", "market")
        bare_signer = signers.SimpleSigner.load(str(key), str(cert), ca_chain_files=(
            str(fed.directory / "provinces" / "330000" / "ca.pem"),))
        assert bare_signer is not None
        bare_meta = signers.PdfSignatureMetadata(field_name="Bare", subfilter=fields.SigSeedSubFilter.PADES)
        stamper = AuthorityTimeStamper(TimestampAuthority.of_province(fed, "330000"))

        def bare_sign() -> bytes:
            return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), bare_meta,
                                    signer=bare_signer).getvalue()

        def bare_sign_t() -> bytes:
            return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), bare_meta, signer=bare_signer,
                                    timestamper=stamper).getvalue()

        trust = fed.trust()

        def bare_verify() -> bool:
            ctx = ValidationContext(trust_roots=list(load_certs_from_pemder_data(trust.root_pem)),
                                    other_certs=[c for p in trust.intermediate_pems for c in load_certs_from_pemder_data(p)],
                                    crls=list(trust.crls_der), revocation_mode="hard-fail")
            sig = PdfFileReader(io.BytesIO(sealed)).embedded_signatures[0]
            return validate_pdf_signature(sig, signer_validation_context=ctx,
                                          ts_validation_context=strict_context(trust)).bottom_line

        assert bare_verify()

        def verify(doc: bytes) -> Callable[[], object]:
            def run() -> object:
                report = verifier.verify(doc, competent_province="330000", competent_department="market",
                                         issued_sha256=None)
                assert report.passed, report.render()
                return report
            return run

        render_rate = rate(lambda: render_certificate(REQUEST, province_name="浙江省"))
        seal_rate = rate(lambda: sealer.seal(pdf, department_key="market"))
        lta_rate = rate(lambda: lta_sealer.seal(pdf, department_key="market"))
        bare_seal_rate = rate(bare_sign)
        bare_seal_t_rate = rate(bare_sign_t)
        verify_rate = rate(verify(sealed))
        verify_lta_rate = rate(verify(sealed_lta))
        bare_verify_rate = rate(bare_verify)
        # Last: everything above is measured with pyHanko's own parser, revocation lookup and
        # asn1crypto's own name comparison; the nodes install the faster paths (nodes.wiring).
        pdfhex.install()
        names.install()
        crl_lookup.install()
        path_memo.install()
        verify_node_rate = rate(verify(sealed))
        seal_node_rate = rate(lambda: sealer.seal(pdf, department_key="market"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def line(name: str, value: float, unit: str, note: str = "") -> None:
        print(f"  {name:<28}{value:8.1f} {unit}/s ({1000 / value:6.1f} ms)  {note}")

    print("one core, one A4 certificate page, EC P-256, province TSA in-process (RFC 3161 DER round trip)")
    line("render", render_rate, "pages")
    line("seal B-LT (tongban)", seal_rate, "seals", "appearance, certification, TSA token, CRLs in DSS")
    line("seal B-LTA (tongban)", lta_rate, "seals", "plus DSS update and document timestamp")
    line("bare pyHanko, no timestamp", bare_seal_rate, "seals",
         f"ratio B-LT/bare {seal_rate / bare_seal_rate:.2f}")
    line("bare pyHanko + same TSA", bare_seal_t_rate, "seals",
         f"ratio B-LT/bare-T {seal_rate / bare_seal_t_rate:.2f}")
    line("verify B-LT (tongban)", verify_rate, "verif", "strict CRLs, TSA, coverage, competence")
    line("verify B-LTA (tongban)", verify_lta_rate, "verif", "plus document timestamp")
    line("bare pyHanko validate", bare_verify_rate, "verif",
         f"same B-LT file; ratio tongban/bare {verify_rate / bare_verify_rate:.2f}")
    line("seal B-LT (tongban, node)", seal_node_rate, "seals",
         f"as nodes run it, with signing.names, crl_lookup and path_memo; ratio to bare-T {seal_node_rate / bare_seal_t_rate:.2f}")
    line("verify B-LT (tongban, node)", verify_node_rate, "verif",
         f"as nodes run it, with signing.pdfhex, names, crl_lookup and path_memo; ratio to bare {verify_node_rate / bare_verify_rate:.2f}")
    if shutil.which("openssl"):
        out = subprocess.run(["openssl", "speed", "-seconds", "1", "ecdsap256"], capture_output=True, text=True,
                             check=False).stdout
        lines = [ln for ln in out.splitlines() if "sign/s" in ln or "nistp256" in ln]
        print("  openssl speed -seconds 1 ecdsap256 (raw ECDSA P-256, same core):")
        for ln in lines:
            print("    " + ln.strip())
    else:
        print("  openssl not found: no raw ECDSA figure")


if __name__ == "__main__":
    main()
