"""Node seal and verification as a province CA's CRL grows: pyHanko's own revocation lookup
(a walk of every entry, several times per seal and per verification) against tongban's
(signing.crl_lookup: entries indexed by serial once per parsed CRL), in the same run, one core.
No thresholds."""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

from signing import crl_lookup, names, pdfhex  # noqa: E402
from signing.pki import Federation, _crl, default_provinces, init_federation  # noqa: E402
from signing.render import render_certificate  # noqa: E402
from signing.seal import DepartmentSealer  # noqa: E402
from signing.verify import SealVerifier  # noqa: E402

from bench_seal import REQUEST, rate  # noqa: E402  (this folder is the script's own)


SIZES = (0, 1000, 5000)
PROVINCE = "330000"


def grow(fed: Federation, entries: int) -> None:
    ca_cert, ca_key, folder = fed._ca(PROVINCE)
    rng = random.Random(entries)
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    revoked = [x509.RevokedCertificateBuilder().serial_number(rng.getrandbits(100) | 1 << 110)
               .revocation_date(when).build() for _ in range(entries)]
    crl = _crl(issuer=ca_cert, key=ca_key, number=1000 + entries, revoked=revoked)
    (folder / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))


def measure(workdir: Path, entries: int, *, indexed: bool) -> tuple[float, float]:
    (crl_lookup.install if indexed else crl_lookup.uninstall)()
    fed = init_federation(Path(tempfile.mkdtemp(dir=workdir)), provinces=default_provinces())
    grow(fed, entries)
    sealer = DepartmentSealer(federation=fed, province_code=PROVINCE)
    verifier = SealVerifier(trust_source=fed.trust)
    pdf = render_certificate(REQUEST, province_name="浙江省")
    sealed = sealer.seal(pdf, department_key="market")

    def verify() -> None:
        report = verifier.verify(sealed, competent_province=PROVINCE, competent_department="market", issued_sha256=None)
        assert report.passed, report.render()

    return 1000 / rate(lambda: sealer.seal(pdf, department_key="market")), 1000 / rate(verify)


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    logging.disable(logging.WARNING)
    pdfhex.install()
    names.install()
    workdir = Path(tempfile.mkdtemp(prefix="tongban-bench-crl-"))
    try:
        walked: dict[int, tuple[float, float]] = {}
        indexed: dict[int, tuple[float, float]] = {}
        for n in SIZES:  # each twice, in both orders; the faster of the two counts
            runs = [(False, measure(workdir, n, indexed=False)), (True, measure(workdir, n, indexed=True)),
                    (True, measure(workdir, n, indexed=True)), (False, measure(workdir, n, indexed=False))]
            for kind, kept in ((False, walked), (True, indexed)):
                figures = [f for k, f in runs if k is kind]
                kept[n] = (min(f[0] for f in figures), min(f[1] for f in figures))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("one core; ms per node seal / node verification (B-LT) as the province CA's CRL grows "
          "(each measured twice, in both orders; the faster counts)")
    print(f"  {'CRL entries':>12}  {'seal: walk':>11}  {'indexed':>8}  {'verify: walk':>13}  {'indexed':>8}")
    for n in SIZES:
        (seal_w, verify_w), (seal_i, verify_i) = walked[n], indexed[n]
        print(f"  {n:>12}  {seal_w:>11.1f}  {seal_i:>8.1f}  {verify_w:>13.1f}  {verify_i:>8.1f}")


if __name__ == "__main__":
    main()
