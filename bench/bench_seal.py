"""Seals/s and verifications/s on one core: tongban's DepartmentSealer and SealVerifier next to
bare pyHanko signing and validating the same document in the same run. No thresholds."""

from __future__ import annotations

import io
import logging
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
from signing.pki import default_provinces, init_federation  # noqa: E402
from signing.render import render_certificate  # noqa: E402
from signing.seal import DepartmentSealer  # noqa: E402
from signing.verify import SealVerifier  # noqa: E402

SECONDS = 2.0


def rate(fn: Callable[[], object]) -> float:
    fn()  # warm caches (font, signer, appearance)
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        fn()
        n += 1
    return n / (time.perf_counter() - started)


def main() -> None:
    logging.disable(logging.WARNING)  # pyHanko warns about fetching being off, by design
    request = CertificateRequest(
        case_number="KS-330000-20251123-000042", matter_code="KS2020-044", matter_name="营业执照遗失补领、换发",
        applicant_name="王小明", applicant_id_masked="330106********1234", province_code="330000",
        department_key="market", department_name="浙江省市场监督管理局", issued_on=date(2025, 11, 23),
        verification_code="7Q4K-9XW2-MD3P",
    )
    workdir = Path(tempfile.mkdtemp(prefix="tongban-bench-"))
    try:
        fed = init_federation(workdir / "pki", provinces=default_provinces())
        sealer = DepartmentSealer(federation=fed, province_code="330000")
        verifier = SealVerifier(trust=fed.trust())
        pdf = render_certificate(request, province_name="浙江省")
        sealed = sealer.seal(pdf, department_key="market")

        cert, key = fed.seal_paths("330000", "market")
        bare_signer = signers.SimpleSigner.load(str(key), str(cert), ca_chain_files=(
            str(fed.directory / "provinces" / "330000" / "ca.pem"),))
        assert bare_signer is not None
        bare_meta = signers.PdfSignatureMetadata(field_name="Bare", subfilter=fields.SigSeedSubFilter.PADES)

        def bare_sign() -> bytes:
            return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), bare_meta,
                                    signer=bare_signer).getvalue()

        bare_signed = bare_sign()
        trust = fed.trust()

        def bare_verify() -> bool:
            ctx = ValidationContext(trust_roots=list(load_certs_from_pemder_data(trust.root_pem)),
                                    other_certs=[c for p in trust.intermediate_pems for c in load_certs_from_pemder_data(p)],
                                    crls=list(trust.crls_der), revocation_mode="hard-fail")
            sig = PdfFileReader(io.BytesIO(bare_signed)).embedded_signatures[0]
            return validate_pdf_signature(sig, signer_validation_context=ctx).bottom_line

        assert bare_verify()
        assert verifier.verify(sealed, competent_province="330000", competent_department="market",
                               issued_sha256=None).passed

        render_rate = rate(lambda: render_certificate(request, province_name="浙江省"))
        seal_rate = rate(lambda: sealer.seal(pdf, department_key="market"))
        bare_seal_rate = rate(bare_sign)
        verify_rate = rate(lambda: verifier.verify(sealed, competent_province="330000",
                                                   competent_department="market", issued_sha256=None))
        bare_verify_rate = rate(bare_verify)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print("one core, one A4 certificate page, EC P-256, no timestamp")
    print(f"  render        {render_rate:8.1f} pages/s   ({1000 / render_rate:6.1f} ms)")
    print(f"  seal          {seal_rate:8.1f} seals/s   ({1000 / seal_rate:6.1f} ms)  tongban: seal appearance, "
          "certification, CRLs embedded")
    print(f"  bare pyHanko  {bare_seal_rate:8.1f} seals/s   ({1000 / bare_seal_rate:6.1f} ms)  ratio tongban/bare "
          f"{seal_rate / bare_seal_rate:.2f}")
    print(f"  verify        {verify_rate:8.1f} verif/s   ({1000 / verify_rate:6.1f} ms)  tongban: strict CRLs, "
          "coverage, competence")
    print(f"  bare pyHanko  {bare_verify_rate:8.1f} verif/s   ({1000 / bare_verify_rate:6.1f} ms)  ratio "
          f"tongban/bare {verify_rate / bare_verify_rate:.2f}")
    if shutil.which("openssl"):
        out = subprocess.run(["openssl", "speed", "-seconds", "1", "ecdsap256"], capture_output=True, text=True,
                             check=False).stdout
        lines = [ln for ln in out.splitlines() if "sign/s" in ln or "nistp256" in ln]
        print("  openssl speed -seconds 1 ecdsap256:")
        for line in lines:
            print("    " + line.strip())
    else:
        print("  openssl not found: no raw ECDSA figure")


if __name__ == "__main__":
    main()
