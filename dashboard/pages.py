"""The dashboard's pages: file, title, icon and URL path, by section.

``url_path`` is what links name: ``/kafka?group=…`` opens views/kafka.py. The
alert rules' dashboard links (alerts/builtin.yaml) point at these paths.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    section: str
    file: str
    title: str
    icon: str
    url_path: str
    default: bool = False


PAGES = (
    PageSpec(
        "Health", "views/overview.py", "Overview", ":material/monitor_heart:", "overview", True
    ),
    PageSpec("Health", "views/alerts.py", "Alerts", ":material/notifications_active:", "alerts"),
    PageSpec("Health", "views/capacity.py", "Capacity", ":material/hourglass_bottom:", "capacity"),
    PageSpec("Pipelines", "views/pipeline.py", "Pipeline", ":material/route:", "pipeline"),
    PageSpec("Hops", "views/postgres.py", "PostgreSQL", ":material/database:", "postgres"),
    PageSpec("Hops", "views/mysql.py", "MySQL / MariaDB", ":material/storage:", "mysql"),
    PageSpec("Hops", "views/connect.py", "Connect", ":material/cable:", "connect"),
    PageSpec("Hops", "views/kafka.py", "Kafka", ":material/forum:", "kafka"),
    PageSpec("Hops", "views/outbox.py", "Outbox", ":material/outbox:", "outbox"),
    PageSpec("Events", "views/catalog.py", "Catalog", ":material/menu_book:", "catalog"),
)


def page_at(path: str) -> PageSpec:
    """Return the page a URL path opens ("/" or "" opens the default page); KeyError if none."""
    wanted = path.strip("/")
    for page in PAGES:
        if page.url_path == wanted or (page.default and not wanted):
            return page
    raise KeyError(path)
