"""`tongban erase` (依法删除) and `tongban event-keys ...`: personal data at rest, run on the
node's host from its configuration (see docs/personal-data.md)."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from typing import Any

from exchange.errors import InvalidRequest, TongbanError


def _config(args: argparse.Namespace) -> Any:
    from nodes.config import NodeConfig

    config = NodeConfig.load(Path(args.config))
    if config.event_store.key_file is None:
        raise InvalidRequest("event_store.encrypt", "this node keeps its events in clear (encrypt = false); "
                             "personal data cannot be erased by destroying a key")
    return config


def _erase(args: argparse.Namespace) -> int:
    from exchange.context import utc_now
    from exchange.ledger import CaseLedger
    from exchange.privacy import erase_personal_data

    config = _config(args)
    ledger = CaseLedger(env=config.event_store.application_env())
    try:
        actor = {"node": config.province, "department": args.department or "", "operator": args.operator}
        case = erase_personal_data(ledger, ledger.mapper.case_keys, args.case_number,  # type: ignore[attr-defined]
                                   legal_basis=args.legal_basis, reason=args.reason, actor=actor, at=utc_now().isoformat())
    finally:
        ledger.close()
    from storage.personal import CaseKeys

    time.sleep(CaseKeys.CACHE_SECONDS)  # until a running node has forgotten the key as well
    from exchange.people import ERASED

    if case.erasure is None or case.applicant.get("name") != ERASED:
        raise TongbanError(f"case {args.case_number} still reads its personal data after the erasure; "
                           "check the node's key table and run the command again")
    print(f"personal data of case {args.case_number} erased at node {config.province} on {case.erasure['at']} "
          f"by {args.operator}; its events keep their bytes, so the log still verifies. "
          "Partner provinces holding the case erase their side on the request they receive.")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from storage.eventcipher import open_event_keyring
    from storage.personal import open_case_keys
    from eventsourcing.utils import Environment

    config = _config(args)
    keyring = open_event_keyring(config.event_store.key_file)
    old, new = keyring.key_ids, keyring.rotate()
    keys = open_case_keys(Environment("tongban", config.event_store.application_env()), open_event_keyring(keyring.path))
    try:
        rewrapped = keys.rewrap()
    finally:
        keys.close()
    print(f"node event key {new} is current: new events are encrypted with it and {rewrapped} case keys were "
          f"re-wrapped under it. Keys {', '.join(old)} stay in {keyring.path} to read older events "
          "(their bytes are chained, so they are never re-encrypted); keep the file's backup up to date.")
    return 0


def _show(args: argparse.Namespace) -> int:
    from storage.eventcipher import MAGIC, open_event_keyring
    from storage.eventstore import open_log_store

    config = _config(args)
    keyring = open_event_keyring(config.event_store.key_file)
    use: Counter[str] = Counter()
    with open_log_store(config.event_store) as store:
        for row in store.iter_events():
            use[row.state[len(MAGIC):len(MAGIC) + 8].decode("ascii") if row.state.startswith(MAGIC) else "clear"] += 1
    print(f"event key file {keyring.path}; current key {keyring.current_id}")
    for kid in keyring.key_ids:
        print(f"  key {kid}: {use.pop(kid, 0)} events")
    for kid, n in sorted(use.items()):
        print(f"  {'in clear' if kid == 'clear' else 'MISSING key ' + kid}: {n} events")
    return 0


def add_privacy_parsers(sub: Any) -> None:
    erase = sub.add_parser("erase", help="依法删除: erase a case's personal data at this node (crypto-shredding)")
    erase.add_argument("case_number")
    erase.add_argument("--config", required=True, help="the node's TOML configuration")
    erase.add_argument("--legal-basis", required=True, help="the provision the erasure rests on")
    erase.add_argument("--reason", required=True, help="the request it answers (no personal data here)")
    erase.add_argument("--operator", required=True, help="who carries out the erasure")
    erase.add_argument("--department", help="the operator's department")
    erase.set_defaults(func=_erase)

    keys = sub.add_parser("event-keys", help="the node key that encrypts events and wraps per-case keys")
    keys_sub = keys.add_subparsers(dest="event_keys_command", required=True)
    rotate = keys_sub.add_parser("rotate", help="new current event key; re-wrap every case key under it")
    rotate.add_argument("--config", required=True)
    rotate.set_defaults(func=_rotate)
    show = keys_sub.add_parser("show", help="which keys the file holds and how many events each encrypts")
    show.add_argument("--config", required=True)
    show.set_defaults(func=_show)
