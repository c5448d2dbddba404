"""The docs stay complete: every metric, command, option and config key is documented.

Given the catalog, the CLI parser and the config model, when we read README.md and docs/,
then each name appears on the page it belongs to, and every page README.md links exists.

The metric tables of docs/metrics.md are generated from lagwatch/catalog.csv:
`python3 tests/unit/test_docs.py --write-metrics` rewrites them after a catalog change.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
CATALOG = ROOT / "lagwatch" / "catalog.csv"
README_MAX_LINES = 150
START, END = "<!-- catalog:start -->", "<!-- catalog:end -->"

# Metric kinds, by name prefix: (heading in docs/metrics.md, page that explains them).
KINDS: list[tuple[tuple[str, ...], str, str]] = [
    (("lagwatch_collector_", "lagwatch_store_"), "Collectors and store", "operations.md"),
    (("lagwatch_pg_",), "PostgreSQL", "sources/postgres.md"),
    (("lagwatch_mysql_",), "MySQL / MariaDB", "sources/mysql.md"),
    (("lagwatch_outbox_",), "Outbox", "sources/outbox.md"),
    (("lagwatch_kafka_",), "Kafka", "sources/kafka.md"),
    (
        ("lagwatch_connect_", "lagwatch_debezium_"),
        "Kafka Connect and Debezium",
        "sources/connect.md",
    ),
    (("lagwatch_probe_", "lagwatch_pipeline_"), "Probe and pipelines", "sources/probe.md"),
    (("lagwatch_registry_",), "Schema registry", "sources/registry.md"),
    (("lagwatch_alert_",), "Alerts", "alerts.md"),
]
OTHER = ("Other", "")
# A collectors package whose config keys are documented on another kind's page.
PAGE_OF_PACKAGE = {"pipeline": "probe"}


# -- metrics -------------------------------------------------------------------------------


def catalog_rows() -> list[dict[str, str]]:
    with CATALOG.open(newline="") as handle:
        return list(csv.DictReader(handle))


def kind_of(name: str) -> tuple[str, str]:
    for prefixes, heading, page in KINDS:
        if name.startswith(prefixes):
            return heading, page
    return OTHER


def metrics_tables(rows: list[dict[str, str]]) -> str:
    """Return the generated part of docs/metrics.md: one table per kind, in catalog order."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for kind in [(heading, page) for _, heading, page in KINDS] + [OTHER]:
        groups[kind] = []
    for row in rows:
        groups[kind_of(row["name"])].append(row)
    out = [START, "<!-- generated from lagwatch/catalog.csv by tests/unit/test_docs.py -->"]
    for (heading, page), items in groups.items():
        if not items:
            continue
        out += ["", f"## {heading}", ""]
        if page:
            out += [f"Explained in [{page}]({page}).", ""]
        out += ["| metric | type | unit | labels | meaning |", "|---|---|---|---|---|"]
        for row in items:
            labels = ", ".join(re.split(r"[\s,]+", row["labels"].strip())) if row["labels"] else ""
            help_text = row["help"].replace("|", "\\|")
            out.append(
                f"| `{row['name']}` | {row['type']} | {row['unit']} | {labels} | {help_text} |"
            )
    out.append(END)
    return "\n".join(out)


def test_every_catalogued_metric_is_in_metrics_md() -> None:
    text = (DOCS / "metrics.md").read_text()
    missing = [r["name"] for r in catalog_rows() if f"`{r['name']}`" not in text]
    assert not missing, (
        "docs/metrics.md lacks these metrics of lagwatch/catalog.csv; run "
        f"`python3 tests/unit/test_docs.py --write-metrics`: {missing}"
    )


def test_metrics_md_tables_match_the_catalog() -> None:
    text = (DOCS / "metrics.md").read_text()
    assert START in text and END in text, f"docs/metrics.md lost its {START} … {END} markers"
    current = text[text.index(START) : text.index(END) + len(END)]
    assert current == metrics_tables(catalog_rows()), (
        "docs/metrics.md is out of date with lagwatch/catalog.csv; "
        "run `python3 tests/unit/test_docs.py --write-metrics`"
    )


def write_metrics() -> None:
    path = DOCS / "metrics.md"
    text = path.read_text()
    generated = metrics_tables(catalog_rows())
    if START in text and END in text:
        text = text[: text.index(START)] + generated + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + generated + "\n"
    path.write_text(text)


# -- commands ------------------------------------------------------------------------------


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    """Yield (command path, its long options) for the parser and every subparser below it.

    A positional argument with fixed choices (`probe init`, `report capacity`) counts as a
    subcommand too.
    """
    options: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))
        elif action.option_strings:
            options += [o for o in action.option_strings if o.startswith("--")]
        elif action.choices and not isinstance(action.choices, dict):
            for choice in action.choices:
                yield (*path, str(choice)), []
    yield path, options


def test_every_command_and_option_is_in_cli_md() -> None:
    from lagwatch.cli import build_parser

    text = (DOCS / "cli.md").read_text()
    missing_commands: list[str] = []
    missing_options: list[str] = []
    for path, options in commands(build_parser()):
        command = " ".join(("lagwatch", *path))
        if path and not re.search(rf"(?<![\w-]){re.escape(command)}(?![\w-])", text):
            missing_commands.append(command)
        for option in options:
            if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text):
                missing_options.append(f"{command} {option}")
    assert not missing_commands, f"docs/cli.md does not document these commands: {missing_commands}"
    assert not missing_options, f"docs/cli.md does not document these options: {missing_options}"


# -- config keys ---------------------------------------------------------------------------


def models_in(annotation: Any) -> Iterator[type]:
    """Yield every pydantic model inside a field's type: nested, in lists, dicts, unions."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):  # Annotated[X, …] gives X first; Union, list, dict
        yield from models_in(arg)


def source_page(model: type) -> str | None:
    """Return the docs/sources/ page of a model: its `kind` literal, else its collectors package."""
    field = getattr(model, "model_fields", {}).get("kind")
    if field is not None:
        kinds = [a for a in typing.get_args(field.annotation) if isinstance(a, str)]
        if len(kinds) == 1:
            return f"sources/{kinds[0]}.md"
    parts = model.__module__.split(".")
    if "collectors" in parts and parts.index("collectors") + 1 < len(parts):
        package = parts[parts.index("collectors") + 1]
        return f"sources/{PAGE_OF_PACKAGE.get(package, package)}.md"
    return None


def config_keys() -> Iterator[tuple[str, str, set[str]]]:
    """Yield (dotted key path, key, the docs pages besides configuration.md that may hold it)."""
    from lagwatch.config import LagwatchConfig

    def walk(
        model: type, path: str, pages: frozenset[str], above: tuple[type, ...]
    ) -> Iterator[tuple[str, str, set[str]]]:
        if model in above:  # a recursive model (routes inside a route): its keys are listed
            return
        page = source_page(model)
        if page:
            pages = pages | {page}
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            key = field.alias or name
            dotted = f"{path}.{key}" if path else key
            yield dotted, key, set(pages)
            for sub in models_in(field.annotation):
                yield from walk(sub, dotted, pages, (*above, model))

    yield from walk(LagwatchConfig, "", frozenset(), ())


def documents_key(text: str, key: str) -> bool:
    """True when ``key`` appears as a key: `key`, `a.key`, `.key`, `key.b`, or key: (YAML)."""
    k = re.escape(key)
    in_code = rf"`\.?(?:[\w\[\]-]+\.)*{k}(?:\.[\w\[\].-]*)?`"
    as_yaml = rf"(?<![\w.-]){k}:"
    return bool(re.search(in_code, text) or re.search(as_yaml, text))


def test_every_config_key_is_in_configuration_md_or_its_source_page() -> None:
    configuration = (DOCS / "configuration.md").read_text()
    pages: dict[str, str] = {}
    missing: list[str] = []
    for dotted, key, allowed in config_keys():
        texts = [configuration]
        for page in sorted(allowed):
            if page not in pages:
                path = DOCS / page
                pages[page] = path.read_text() if path.exists() else ""
            texts.append(pages[page])
        if not any(documents_key(text, key) for text in texts):
            where = ", ".join(["docs/configuration.md", *(f"docs/{p}" for p in sorted(allowed))])
            missing.append(f"{dotted} (in {where})")
    assert not missing, "document these config keys: " + "; ".join(missing)


# -- README --------------------------------------------------------------------------------


LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def anchors(path: Path) -> set[str]:
    """Return the heading anchors of a Markdown page, as GitHub makes them."""
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n, unique = 0, slug
        while unique in found:
            n += 1
            unique = f"{slug}-{n}"
        found.add(unique)
    return found


def test_readme_is_a_short_front_door() -> None:
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}); move reference text to docs/"
    )


def test_every_page_linked_from_readme_and_docs_exists() -> None:
    broken: list[str] = []
    for page in [README, *sorted(DOCS.rglob("*.md"))]:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{page.relative_to(ROOT)} → {target} (no such heading)")
    assert not broken, f"links to missing files or headings: {broken}"


def test_readme_links_every_docs_page() -> None:
    text = README.read_text()
    linked = {(ROOT / t.split("#", 1)[0]).resolve() for t in LINK.findall(text) if ":" not in t}
    missing = [
        str(p.relative_to(ROOT)) for p in sorted(DOCS.rglob("*.md")) if p.resolve() not in linked
    ]
    assert not missing, f"README.md does not link these docs pages: {missing}"


def test_readme_five_minute_config_is_valid(tmp_path: Path, monkeypatch: Any) -> None:
    from lagwatch.config import load

    text = README.read_text()
    section = text[text.index("## Five-minute config") :]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match, "README.md: the five-minute config lost its ```yaml block"
    for name in set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", match.group(1))):
        monkeypatch.setenv(name, "postgresql://lagwatch@localhost/x")
    path = tmp_path / "lagwatch.yaml"
    path.write_text(match.group(1))
    load(path)  # raises ConfigError naming the line and key


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-metrics"]:
        write_metrics()
    else:
        print(metrics_tables(catalog_rows()))
