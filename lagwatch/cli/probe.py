"""`lagwatch probe init` and `lagwatch probe --once --pipeline NAME`."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from lagwatch.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_PROBLEM,
    add_command,
    load_config,
    setup_logging,
)
from lagwatch.collectors.base import CollectorContext, SourceUnreachable
from lagwatch.collectors.kinds import kind_of
from lagwatch.collectors.probe.collector import ProbeCollector, build_probes
from lagwatch.collectors.probe.config import ProbeConfig
from lagwatch.config import LagwatchConfig
from lagwatch.logs import Redactor


def _probes(config: LagwatchConfig, pipeline: str | None) -> list[ProbeConfig]:
    if pipeline is None:
        if not config.probes:
            raise LookupError(
                "the config has no probes: section; add one (see docs/sources/probe.md)"
            )
        return list(config.probes)
    found = [p for p in config.probes if p.pipeline == pipeline]
    if not found:
        names = ", ".join(p.pipeline for p in config.probes) or "none"
        known = any(p.name == pipeline for p in config.pipelines)
        what = "has no probe" if known else "is not a pipeline in the config"
        raise LookupError(
            f"--pipeline {pipeline} {what}; probes are configured for: {names}. "
            f"Add `probes: - {{pipeline: {pipeline}, dsn: ...}}`"
        )
    return found


def _source_of(config: LagwatchConfig, probe: ProbeConfig) -> Any:
    return next(s for s in config.sources if s.name == _source(config, probe))


def probe_init(config: LagwatchConfig, pipeline: str | None) -> int:
    """Create each probe's table (and publication) with the probe's own role; print the grants."""
    redact = Redactor(config.secrets())
    try:
        probes = _probes(config, pipeline)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    failed = False
    for probe in probes:
        source = _source_of(config, probe)
        support = kind_of(source).probe
        assert support is not None, "the config check refuses a probe on such a source"
        grants = support.grants(probe, source)
        try:
            done = support.init(probe, source)
        except Exception as exc:
            failed = True
            print(f"FAIL {probe.pipeline}: {redact(str(exc).strip())}", file=sys.stderr)
            print(f"The probe needs these grants:\n{grants}", file=sys.stderr)
            continue
        for line in done:
            print(f"ok   {probe.pipeline}: {line}")
        print(f"\nGrants for pipeline {probe.pipeline}:\n{grants}\n")
    return EXIT_PROBLEM if failed else EXIT_OK


def _source(config: LagwatchConfig, probe: ProbeConfig) -> str:
    return next(p.source for p in config.pipelines if p.name == probe.pipeline)


def probe_once(config: LagwatchConfig, pipeline: str, wait: float = 30.0) -> int:
    """Send one probe through ``pipeline``, print the hop table, exit 1 past the SLO."""
    try:
        probe_config = _probes(config, pipeline)[0]
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    redact = Redactor(config.secrets())
    (collector,) = build_probes(
        [probe_config], config.pipelines, config.sources, config.kafka, CollectorContext()
    )
    try:
        return _run_once(collector, wait, redact)
    finally:
        collector.close()


def _run_once(collector: ProbeCollector, wait: float, redact: Redactor) -> int:
    collector.start()
    if not collector.wait_ready(wait):
        why = [
            e
            for e in (collector.tap.error if collector.tap else None, collector.watcher.error)
            if e
        ]
        print(f"FAIL {collector.pipe.name}: readers not streaming after {wait:g}s: "
              f"{redact('; '.join(why)) or 'still starting'}", file=sys.stderr)  # fmt: skip
        return EXIT_PROBLEM
    try:
        probe = collector.send()
    except SourceUnreachable as exc:
        print(f"FAIL {redact(str(exc))}", file=sys.stderr)
        return EXIT_PROBLEM
    deadline = probe.sent_at + collector.probe.timeout + 1
    while not probe.finished and time.time() < deadline:
        time.sleep(0.02)
        collector.finish(time.time())
    slo = collector.pipe.slo.freshness
    print(f"probe {probe.probe_id} through pipeline {collector.pipe.name}")
    print(f"{'hop':<32} {'latency':>12}  status")
    for hop in collector.hops:
        latency = probe.latency(hop)
        shown = f"{latency * 1000:9.1f} ms" if latency is not None else "           -"
        print(f"{'commit → ' + hop:<32} {shown:>12}  {'ok' if latency is not None else 'LOST'}")
    end = probe.end_to_end(collector.final_hops)
    if end is None:
        print(
            f"freshness: unknown (lost at {', '.join(probe.lost) or 'a hop'}); SLO {slo:g}s missed"
        )
        return EXIT_PROBLEM
    verdict = "met" if end <= slo else "MISSED"
    print(f"freshness: {end * 1000:.1f} ms; SLO {slo:g}s {verdict}")
    return EXIT_OK if end <= slo else EXIT_PROBLEM


def _tap(args: argparse.Namespace, config: LagwatchConfig) -> int:
    """`lagwatch tap --pipeline NAME`: the probe's tap alone, e.g. as the demo's CDC relay."""
    return run_tap(config, args.pipeline)


def _probe(args: argparse.Namespace, config: LagwatchConfig) -> int:
    """Dispatch `lagwatch probe [init] [--once --pipeline NAME]`."""
    if args.action == "init":
        return probe_init(config, args.pipeline)
    if not args.once or not args.pipeline:
        print(
            "error: say `lagwatch probe init` or `lagwatch probe --once --pipeline NAME`",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return probe_once(config, args.pipeline, args.wait)


def run_tap(config: LagwatchConfig, pipeline: str) -> int:
    """Run one probe's tap (and relay) in the foreground until SIGTERM or Ctrl-C."""
    import signal
    import threading

    try:
        probe_config = _probes(config, pipeline)[0]
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not probe_config.tap.enabled:
        print(
            f"error: probes[{pipeline}].tap.enabled is false; enable it to run the tap",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    (collector,) = build_probes(
        [probe_config], config.pipelines, config.sources, config.kafka, CollectorContext()
    )
    tap = collector.tap
    assert tap is not None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    relay = collector.relay
    thread = threading.Thread(
        target=tap.run, args=(relay or (lambda _change: None), stop), daemon=True
    )
    thread.start()
    announced = False
    while not stop.wait(0.2):
        if tap.ready.is_set() and not announced:
            slot = getattr(tap, "slot_name", None)
            print(f"tap {tap.name} streaming" + (f" (slot {slot})" if slot else ""), flush=True)
            announced = True
        if relay is not None:
            relay.poll()
    thread.join(timeout=5)
    collector.close()
    return EXIT_OK


def cmd_probe(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    setup_logging(config, args.verbose)
    return _probe(args, config)


def cmd_tap(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    setup_logging(config, args.verbose)
    return _tap(args, config)


def register(sub: Any) -> None:
    """Add `probe` and `tap` to the `lagwatch` parser."""
    p = add_command(
        sub,
        "probe",
        "`probe init` creates the probe table; `probe --once --pipeline NAME` times one probe "
        "(exit 1 past the SLO)",
        cmd_probe,
    )
    p.add_argument("action", nargs="?", choices=["init"], help="init: create the probe table")
    p.add_argument("--once", action="store_true", help="send one probe and print its hops")
    p.add_argument("--pipeline", help="the pipeline to probe (init: default all)")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the readers")
    p = add_command(
        sub, "tap", "run a probe's CDC tap (and its Kafka relay) until stopped", cmd_tap
    )
    p.add_argument("--pipeline", required=True, help="the pipeline whose probe's tap to run")
