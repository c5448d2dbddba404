"""`lagwatch catalog` (the event catalog, from the store) and `lagwatch registry check SUBJECT FILE`
(does a new schema pass the policy, before anyone registers it)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lagwatch.cli.common import EXIT_BAD_INPUT, EXIT_OK, EXIT_PROBLEM, add_command, load_config


def _registries(config: Any, wanted: str | None) -> list[Any] | str:
    """Return the `registries:` entries to use, or the error text."""
    entries = list(config.registries)
    if not entries:
        return "the config has no registries: section; add one (see docs/sources/registry.md)"
    if wanted is None:
        return entries
    found = [r for r in entries if r.name == wanted]
    if not found:
        names = ", ".join(r.name for r in entries)
        return f"--registry {wanted}: no such registry in the config; name one of ({names})"
    return found


# -- catalog -------------------------------------------------------------------------------


def _table(topics: list[dict[str, Any]]) -> str:
    header = (
        "REGISTRY",
        "TOPIC",
        "SUBJECTS",
        "OWNER",
        "GROUPS",
        "MSG/S",
        "P50",
        "P99",
        "VIOLATIONS",
    )
    rows = [header]
    for t in topics:
        subjects = ",".join(
            f"{s['subject']}@{s['latest_version']}({s['compatibility'] or '?'})"
            for s in t["subjects"]
        )
        rate = t["produced_per_second"]
        bad = ",".join(f"{k}={int(v)}" for k, v in t["violations"].items() if v)
        rows.append(
            (
                t["registry"],
                t["topic"],
                subjects or "-",
                t["owner"] or "-",
                ",".join(t["consumer_groups"]) or "-",
                "-" if rate is None else f"{rate:.1f}",
                f"{t['payload_bytes'].get('p50', 0):.0f}",
                f"{t['payload_bytes'].get('p99', 0):.0f}",
                bad or "none",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def cmd_catalog(args: argparse.Namespace) -> int:
    from lagwatch.reports.catalog import build_catalog, registry_summary
    from lagwatch.store import StoreUnavailable, open_store

    config = load_config(args.config)
    chosen = _registries(config, args.registry)
    if isinstance(chosen, str):
        print(f"error: {chosen}", file=sys.stderr)
        return EXIT_BAD_INPUT
    store = open_store(config.store, read_only=True)
    try:
        topics = build_catalog(store, chosen)
        registries = registry_summary(store, chosen)
    except StoreUnavailable as exc:
        print(f"error: cannot read the store: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        store.close()
    if args.json:
        json.dump({"registries": registries, "topics": topics}, sys.stdout)
        sys.stdout.write("\n")
    elif topics:
        print(_table(topics))
    else:
        print("no topics yet: let `lagwatch run` (or `collect --once`) sample the registries first")
    return EXIT_OK


# -- registry check ------------------------------------------------------------------------


def _schema_type(path: Path, text: str, given: str | None) -> str:
    if given:
        return given.upper()
    if path.suffix == ".proto":
        return "PROTOBUF"
    if path.suffix in (".avsc", ".avro"):
        return "AVRO"
    try:
        doc = json.loads(text)
    except ValueError:
        return "PROTOBUF" if "message " in text else "AVRO"
    if isinstance(doc, dict) and ("$schema" in doc or "properties" in doc):
        return "JSON"
    return "AVRO"


def policy_check(registry: Any, subject: str, schema: Any) -> tuple[list[str], list[str]]:
    """Return (problems, notes) of ``schema`` as the next version of ``subject`` on ``registry``.

    Raises RegistryUnavailable or RegistryError when the registry cannot be read."""
    from lagwatch.collectors.registry.audit import is_key_subject, version_field_problem
    from lagwatch.collectors.registry.compat import check_against
    from lagwatch.collectors.registry.flavour import detect
    from lagwatch.collectors.registry.naming import naming_problem
    from lagwatch.collectors.registry.read import read_version
    from lagwatch.collectors.registry.schema import SchemaProblem, parse
    from lagwatch.collectors.registry.session import Session, path_of

    policy = registry.policy
    session = Session(registry.name, registry.url.get_secret_value(), registry.request_timeout)
    problems: list[str] = []
    notes: list[str] = []
    try:
        flavour = detect(session)
        answer = session.get(path_of("subjects", subject, "versions"))
        numbers = sorted(int(v) for v in answer.body) if answer.status == 200 else []
        if answer.status == 404:
            notes.append(f"{subject} is a new subject on {registry.name} ({flavour.label})")
        earlier = []
        for number in numbers:
            read = read_version(session, subject, number)
            if read is None:
                continue
            if read.text.strip() == schema.text.strip():
                notes.append(
                    f"identical to version {number} (id {read.id}): nothing new to register"
                )
            try:
                earlier.append((number, parse(read.type, read.text)))
            except SchemaProblem as exc:
                notes.append(f"version {number} does not parse ({exc}); left out of the check")
        level = flavour.compatibility(
            session.get(path_of("config", subject), flavour.config_params())
        )
        if answer.status == 200 and level == "NONE":
            notes.append(
                f"{subject} itself is set to NONE: the registry would take anything "
                f"(lagwatch checks at the policy's {policy.compatibility})"
            )
        problems += flavour.registration_warnings(schema.type, schema.text)
    finally:
        session.close()
    against = [v for v, _ in earlier]
    for problem in check_against(policy.compatibility, schema, earlier):
        problems.append(f"compatibility {policy.compatibility}: {problem}")
    if earlier and not any(p.startswith("compatibility") for p in problems):
        which = against if policy.compatibility.endswith("_TRANSITIVE") else against[-1:]
        notes.append(
            f"compatible at {policy.compatibility} with version(s) {', '.join(map(str, which))}"
        )
    if not is_key_subject(subject):
        named = naming_problem(schema.name) if policy.naming == "past_tense" else None
        if named:
            problems.append(f"naming: {named}")
        versioned = version_field_problem(policy, schema)
        if versioned:
            problems.append(f"no_version_field: {versioned}")
    return problems, notes


def cmd_registry_check(args: argparse.Namespace) -> int:
    from lagwatch.collectors.registry.schema import TYPES, SchemaProblem, parse
    from lagwatch.collectors.registry.session import RegistryError, RegistryUnavailable

    config = load_config(args.config)
    chosen = _registries(config, args.registry)
    if isinstance(chosen, str):
        print(f"error: {chosen}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if len(chosen) > 1:
        names = ", ".join(r.name for r in chosen)
        print(f"error: several registries ({names}); say which with --registry", file=sys.stderr)
        return EXIT_BAD_INPUT
    registry = chosen[0]
    path = Path(args.file)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: {path}: cannot read the schema: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.type and args.type.upper() not in TYPES:
        print(f"error: --type {args.type}: expected one of {', '.join(TYPES)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    kind = _schema_type(path, text, args.type)
    try:
        schema = parse(kind, text)
    except SchemaProblem as exc:
        print(
            f"error: {path}: {exc} (read as {kind}; say --type if that is wrong)", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    try:
        problems, notes = policy_check(registry, args.subject, schema)
    except (RegistryUnavailable, RegistryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    passed = not problems
    if args.json:
        json.dump(
            {"subject": args.subject, "registry": registry.name, "type": kind, "passed": passed,
             "problems": problems, "notes": notes},
            sys.stdout,
        )  # fmt: skip
        sys.stdout.write("\n")
    else:
        for note in notes:
            print(f"note {note}")
        for problem in problems:
            print(f"FAIL {problem}")
        verdict = "passes" if passed else "does not pass"
        print(
            f"{path} {verdict} the policy of registry {registry.name} as the next version of {args.subject}"
        )
    return EXIT_OK if passed else EXIT_PROBLEM


def register(sub: Any) -> None:
    """Add `catalog` and `registry check` to the `lagwatch` parser."""
    p = add_command(
        sub,
        "catalog",
        "the event catalog: per watched topic its subjects, owner, groups, rate, sizes and "
        "violations (from the store)",
        cmd_catalog,
    )
    p.add_argument(
        "--json", action="store_true", help='JSON: {"registries": [...], "topics": [...]}'
    )
    p.add_argument("--registry", help="only this registry (default: every one)")
    p = add_command(
        sub,
        "registry",
        "`registry check SUBJECT FILE`: does a new schema pass the policy? (exit 1 if not)",
        cmd_registry_check,
    )
    p.add_argument("action", choices=["check"], help="check: a schema file against the policy")
    p.add_argument("subject", help="the subject it would be registered under")
    p.add_argument("file", help="the schema: .avsc (Avro), .json (JSON Schema or Avro), .proto")
    p.add_argument("--registry", help="which registries: entry (needed when there are several)")
    p.add_argument("--type", help="AVRO, JSON or PROTOBUF (default: from the file)")
    p.add_argument("--json", action="store_true", help="JSON: passed, problems, notes")
