"""Sealing and verifying in worker processes: the same ports, the same results, the same errors."""

from __future__ import annotations

from datetime import date

import pytest

from exchange.ports import CertificateRequest
from nodes.config import NodeConfig, to_toml
from nodes.pools import SigningPool, pool_size
from signing.errors import SigningError
from signing.pki import Federation


def _request(province: str) -> CertificateRequest:
    return CertificateRequest(
        case_number=f"{province}-20261123-0A1B2C3D", matter_code="KS2020-044", matter_name="营业执照遗失补领、换发",
        applicant_name="王小明", applicant_id_masked="3301**********1234", province_code=province,
        department_key="market", department_name="浙江省市场监督管理局", issued_on=date(2026, 11, 23),
        verification_code="7Q4K-9XW2-MD3P",
    )


def test_a_certificate_sealed_in_a_worker_process_verifies_in_one(federation: Federation) -> None:
    pool = SigningPool(pki_dir=federation.directory, province="330000", processes=1)
    try:
        pdf = pool.issuer().issue(_request("330000"))
        report = pool.verifier().verify(pdf, competent_province="330000", competent_department="market",
                                        issued_sha256=None)
        assert report.passed, report.render()
        assert pool.worker_pids()
    finally:
        pool.close()


def test_a_worker_seals_without_writing_pyhankos_warnings_into_the_nodes_log(
    federation: Federation, capfd: pytest.CaptureFixture[str],
) -> None:
    pool = SigningPool(pki_dir=federation.directory, province="330000", processes=1)
    try:
        for _ in range(2):
            pool.issuer().issue(_request("330000"))
    finally:
        pool.close()
    # Before: "Validation/revocation info will be embedded, but fetching is not allowed" per seal.
    assert "fetching is not allowed" not in capfd.readouterr().err


def test_a_worker_refuses_a_certificate_of_another_province_with_a_signing_error(federation: Federation) -> None:
    pool = SigningPool(pki_dir=federation.directory, province="330000", processes=1)
    try:
        with pytest.raises(SigningError, match="send it to that province's node"):
            pool.issuer().issue(_request("340000"))
    finally:
        pool.close()


def test_the_signing_pool_size_comes_from_the_config_and_minus_one_means_every_core(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "node.toml"
    path.write_text('province = "330000"\nsigning_processes = 3\n', encoding="utf-8")
    assert NodeConfig.load(path, env={}).signing_processes == 3
    assert NodeConfig.load(path, env={"TONGBAN_SIGNING_PROCESSES": "-1"}).signing_processes == -1
    written = tmp_path / "written.toml"
    written.write_text(to_toml(NodeConfig.load(path, env={})), encoding="utf-8")
    assert NodeConfig.load(written, env={}).signing_processes == 3  # what launch.spawn_node writes
    assert pool_size(-1) >= 1 and pool_size(0) == 0 and pool_size(2) == 2


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_node_killed_outright_leaves_no_worker_holding_its_seal_keys(tmp_path, federation: Federation) -> None:  # type: ignore[no-untyped-def]
    import signal
    import time
    from dataclasses import replace

    from nodes.bench_parts import child_pids
    from nodes.launch import loopback_configs, spawn_node, wait_serving

    config = replace(loopback_configs(tmp_path, ["330000"], pki_dir=federation.directory)["330000"],
                     signing_processes=1)
    node = spawn_node(config)
    try:
        wait_serving(node, federation)
        deadline = time.monotonic() + 30
        while not child_pids(node.process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = child_pids(node.process.pid)
        assert workers, "the node started no signing worker"
        node.process.send_signal(signal.SIGKILL)
        node.process.wait()
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers)
    finally:
        node.stop()


def test_a_pool_whose_worker_died_starts_fresh_workers_and_seals(federation: Federation) -> None:
    import os
    import signal

    pool = SigningPool(pki_dir=federation.directory, province="330000", processes=1)
    try:
        for future in pool.warm():
            future.result()
        for pid in pool.worker_pids():
            os.kill(pid, signal.SIGKILL)
        pdf = pool.issuer().issue(_request("330000"))
        assert pdf.startswith(b"%PDF-")
    finally:
        pool.close()


def test_callers_in_many_threads_share_the_workers_and_each_gets_its_own_answer(federation: Federation) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pool = SigningPool(pki_dir=federation.directory, province="330000", processes=2)
    try:
        def seal_and_verify(n: int) -> tuple[str, bool]:
            request = _request("330000")
            request = type(request)(**{**request.__dict__, "case_number": f"330000-20261206-{n:08X}"})
            pdf = pool.issuer().issue(request)
            report = pool.verifier().verify(pdf, competent_province="330000", competent_department="market",
                                            issued_sha256=None)
            # The case number is in the sealed file (its metadata): each caller got its own certificate.
            return request.case_number, report.passed and request.case_number.encode() in pdf

        with ThreadPoolExecutor(6) as callers:
            answers = list(callers.map(seal_and_verify, range(12)))
        assert [passed for _, passed in answers] == [True] * 12
        assert len({number for number, _ in answers}) == 12
        with pytest.raises(SigningError):  # an error answers its own caller and leaves the workers serving
            pool.issuer().issue(_request("340000"))
        assert pool.issuer().issue(_request("330000")).startswith(b"%PDF-")
    finally:
        pool.close()
    assert not any(_alive(pid) for pid in pool.worker_pids())



def test_a_closed_pool_refuses_calls_at_once_and_closing_twice_is_harmless(federation: Federation) -> None:
    import threading
    import time

    pool = SigningPool(pki_dir=federation.directory, province="330000", processes=1)
    for future in pool.warm():
        future.result()
    outcomes: list[str] = []

    def seal_after_close() -> None:
        try:
            pool.issuer().issue(_request("330000"))
            outcomes.append("sealed")
        except RuntimeError as exc:
            outcomes.append(str(exc))

    pool.close()
    started = time.monotonic()
    callers = [threading.Thread(target=seal_after_close) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(10)
    assert time.monotonic() - started < 5  # refused, not left waiting for a worker forever
    assert len(outcomes) == 3 and all("signing pool is closed" in o for o in outcomes)
    pool.close()  # again: returns at once
    assert not any(_alive(pid) for pid in pool.worker_pids())


def test_a_call_still_running_when_the_pool_closes_fails_and_starts_no_worker(federation: Federation) -> None:
    import os
    import signal
    import threading

    pool = SigningPool(pki_dir=federation.directory, province="330000", processes=1)
    for future in pool.warm():
        future.result()
    [pid] = pool.worker_pids()
    os.kill(pid, signal.SIGSTOP)  # a worker stuck in a long call
    outcome: list[object] = []

    def seal() -> None:
        try:
            outcome.append(pool.issuer().issue(_request("330000")))
        except RuntimeError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=seal)
    caller.start()
    pool.close(timeout=0.5)
    caller.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], RuntimeError)
    assert pool.worker_pids() == [pid] and not _alive(pid)  # killed, and none started in its place


def test_calls_one_after_another_go_to_the_worker_that_answered_last(federation: Federation) -> None:
    # Its memory is still in the caches; handing calls round in turn left each worker cold.
    pool = SigningPool(pki_dir=federation.directory, province="330000", processes=2)
    try:
        for future in pool.warm():
            future.result()
        answered = {pool.submit("ready") for _ in range(6)}
        assert len(answered) == 1 and answered < set(pool.worker_pids())
    finally:
        pool.close()


def test_warming_reaches_every_worker_once(federation: Federation) -> None:
    pool = SigningPool(pki_dir=federation.directory, province="330000", processes=2)
    try:
        assert sorted(future.result() for future in pool.warm()) == sorted(pool.worker_pids())
    finally:
        pool.close()
