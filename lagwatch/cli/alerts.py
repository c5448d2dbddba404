"""`lagwatch rules test` and `lagwatch silence add|list|expire`."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lagwatch.cli.common import EXIT_BAD_INPUT, EXIT_OK, EXIT_PROBLEM, add_command, load_config


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> float:
    """Return unix seconds for an ISO time (UTC unless it says otherwise)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class _Failed(Exception):
    """Ends a command with ``code`` after printing ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _on_store(
    args: argparse.Namespace, action: Callable[[Any], Any], read_only: bool = False
) -> Any:
    """Return ``action(store)`` on the store of ``-c CONFIG``, closing it after."""
    from lagwatch.store import StoreUnavailable, open_store

    store = open_store(load_config(args.config).store, read_only=read_only)
    try:
        return action(store)
    except StoreUnavailable as exc:
        raise _Failed(EXIT_PROBLEM, f"cannot use the store: {exc}") from None
    finally:
        store.close()


def _reporting(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn a _Failed into its message on stderr and its exit code."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except _Failed as failed:
            print(f"error: {failed}", file=sys.stderr)
            return failed.code

    return run


@_reporting
def cmd_rules_test(args: argparse.Namespace) -> int:
    from lagwatch.alerts.builtin import builtin_rules
    from lagwatch.alerts.replay import (
        RulesFile,
        format_transition,
        metrics_of,
        read_samples,
        replay,
        samples_from_store,
    )
    from lagwatch.config import ConfigError
    from lagwatch.loader import load_config
    from lagwatch.store.types import parse_duration

    try:
        loaded = load_config(args.file, RulesFile)
        step, since = parse_duration(args.step), parse_duration(args.since)
    except ConfigError as exc:
        raise _Failed(EXIT_BAD_INPUT, "\nerror: ".join(exc.problems)) from None
    except ValueError as exc:
        raise _Failed(EXIT_BAD_INPUT, f"--step/--since: {exc}") from None
    rules = list(loaded.rules)
    if args.builtin:
        own = {r.name for r in rules}
        rules = [r for r in builtin_rules() if r.name not in own] + rules
    if args.data:
        try:
            with open(args.data) as data:
                samples = read_samples(data, args.data)
        except OSError as exc:
            raise _Failed(
                EXIT_BAD_INPUT, f"cannot read {args.data}: {exc.strerror or exc}"
            ) from None
        except ValueError as exc:
            raise _Failed(EXIT_BAD_INPUT, str(exc)) from None
    else:
        now = time.time()
        metrics = metrics_of(rules)
        samples = _on_store(
            args, lambda store: samples_from_store(store, metrics, now - since, now), read_only=True
        )
    if not samples:
        print("no samples for the metrics these rules read: " + ", ".join(metrics_of(rules)))
        return EXIT_OK
    transitions = replay(rules, samples, step)
    first, last = min(s.ts for s in samples), max(s.ts for s in samples)
    print(f"{len(rules)} rules over {len(samples)} samples from {_when(first)} to {_when(last)}")
    for t in transitions:
        print(format_transition(t))
    fired = sorted({t.rule for t in transitions if t.state == "firing"})
    print(f"would fire: {', '.join(fired) if fired else 'nothing'}")
    return EXIT_OK


@_reporting
def cmd_rules_export(args: argparse.Namespace) -> int:
    import yaml

    from lagwatch.alerts.builtin import builtin_rules, effective_rules
    from lagwatch.alerts.promql import export
    from lagwatch.alerts.topology import links_from

    if not args.prometheus:
        raise _Failed(EXIT_BAD_INPUT, "say the format: --prometheus (the only one so far)")
    if args.builtin:
        rules, links, dashboard, runbooks, source = list(builtin_rules()), [], "", "", "built-in"
    else:
        config = load_config(args.config)
        rules = effective_rules(config.alerts)
        links = links_from(config.pipelines)
        dashboard, runbooks = config.alerts.dashboard_url, config.alerts.runbook_url
        source = args.config
    exported = export(rules, links, dashboard, runbooks)
    lines = [
        f"# lagwatch rules export --prometheus ({source} rules): {len(exported.rules)} alerting "
        "rules over lagwatch's /metrics names.",
        "# $note (a verdict's explanation) has no Prometheus equivalent and is left out.",
    ]
    lines += [f"# not exported: {name}: {why}" for name, why in exported.skipped]
    text = (
        "\n".join(lines)
        + "\n"
        + yaml.safe_dump(exported.document(), sort_keys=False, width=1000, allow_unicode=True)
    )
    if args.output and args.output != "-":
        try:
            with open(args.output, "w") as out:
                out.write(text)
        except OSError as exc:
            raise _Failed(EXIT_BAD_INPUT, f"cannot write {args.output}: {exc.strerror}") from None
        print(f"wrote {len(exported.rules)} rules to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


@_reporting
def cmd_silence_add(args: argparse.Namespace) -> int:
    from lagwatch.alerts.silences import add_silence
    from lagwatch.store.types import format_duration, parse_duration

    now = time.time()
    try:
        ends = _parse_time(args.until) if args.until else now + parse_duration(args.duration)
    except ValueError as exc:
        raise _Failed(EXIT_BAD_INPUT, f"--for/--until: {exc}") from None
    author = args.author or os.environ.get("USER") or getpass.getuser()
    try:
        silence = _on_store(
            args, lambda store: add_silence(store, args.matchers, author, args.comment, ends, now)
        )
    except ValueError as exc:
        raise _Failed(EXIT_BAD_INPUT, str(exc)) from None
    matchers = " ".join(str(m) for m in silence.matchers)
    print(f"silence {silence.id}: {matchers} until {_when(silence.ends_at)} "
          f"({format_duration(silence.ends_at - now)}) by {silence.author}: {silence.comment}")  # fmt: skip
    return EXIT_OK


@_reporting
def cmd_silence_list(args: argparse.Namespace) -> int:
    from lagwatch.alerts.silences import list_silences

    now = time.time()
    silences = _on_store(args, lambda store: list_silences(store, now, include_expired=args.all))
    if args.json:
        rows = [
            {"id": s.id, "matchers": [str(m) for m in s.matchers], "author": s.author,
             "comment": s.comment, "starts_at": s.starts_at, "ends_at": s.ends_at,
             "active": s.active(now)}
            for s in silences
        ]  # fmt: skip
        print(json.dumps(rows))
        return EXIT_OK
    if not silences:
        print("no silences" + ("" if args.all else " in force (--all shows expired ones)"))
    for s in silences:
        state = "active" if s.active(now) else ("expired" if s.ends_at <= now else "scheduled")
        matchers = " ".join(str(m) for m in s.matchers)
        print(f"{s.id}  {state:9} until {_when(s.ends_at)}  {matchers}  by {s.author}: {s.comment}")
    return EXIT_OK


@_reporting
def cmd_silence_expire(args: argparse.Namespace) -> int:
    from lagwatch.alerts.silences import expire_silence

    try:
        silence = _on_store(args, lambda store: expire_silence(store, args.id, time.time()))
    except KeyError:
        raise _Failed(
            EXIT_BAD_INPUT, f"no silence {args.id}; `lagwatch silence list --all` shows them"
        ) from None
    print(f"silence {silence.id} expired at {_when(silence.ends_at)}")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add `rules` and `silence` to the `lagwatch` parser."""
    rules = sub.add_parser(
        "rules", help="work with alert rules", description="work with alert rules"
    )
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    p = add_command(rules_sub, "test", "replay recorded data through a rules file: what would fire, when",
             cmd_rules_test)  # fmt: skip
    p.add_argument("file", help="YAML file with `rules:` (same syntax as alerts.rules)")
    p.add_argument("--data", help="JSON lines of samples (or `lagwatch snapshot --json` output); "
                   "default: the store of -c CONFIG")  # fmt: skip
    p.add_argument("--since", default="6h", help="with the store: how far back (default 6h)")
    p.add_argument(
        "--step", default="0s", help="evaluate every STEP (default: at every sample time)"
    )
    p.add_argument("--builtin", action="store_true", help="replay the built-in pack too")
    p = add_command(rules_sub, "export", "write the rules in force as a Prometheus rule file "
                    "over lagwatch's /metrics", cmd_rules_export)  # fmt: skip
    p.add_argument("--prometheus", action="store_true",
                   help="a Prometheus rule file (for promtool and rule_files:)")  # fmt: skip
    p.add_argument("-o", "--output", help="write to this file (default: standard output)")
    p.add_argument("--builtin", action="store_true",
                   help="only the built-in pack, without reading -c CONFIG")  # fmt: skip

    silence = sub.add_parser("silence", help="mute alerts for a while",
                             description="mute alerts matching labels for a while")  # fmt: skip
    silence_sub = silence.add_subparsers(dest="silence_command", required=True, metavar="COMMAND")
    p = add_command(silence_sub, "add", "add a silence: lagwatch silence add alertname=X group=Y --for 2h "
             "--comment WHY", cmd_silence_add)  # fmt: skip
    p.add_argument(
        "matchers", nargs="+", help="label=value, label!=value, label=~regex, label!~regex"
    )
    p.add_argument("--for", dest="duration", default="2h", help="how long (default 2h)")
    p.add_argument("--until", help="end time, ISO 8601 (UTC unless an offset is given)")
    p.add_argument("-m", "--comment", required=True, help="why (shown to whoever is on call)")
    p.add_argument("--author", help="who (default: $USER)")
    p = add_command(silence_sub, "list", "list silences in force", cmd_silence_list)
    p.add_argument("--all", action="store_true", help="include expired silences")
    p.add_argument("--json", action="store_true", help="JSON output")
    p = add_command(silence_sub, "expire", "end a silence now", cmd_silence_expire)
    p.add_argument("id", help="the silence id (see `lagwatch silence list`)")
