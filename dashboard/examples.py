"""Config snippets the empty pages show, one per part that can be missing."""

PIPELINES = """
pipelines:
  - name: orders
    source: orders-db
    slot: debezium_orders
    topic: dbz.public.orders
    groups: [search-indexer, fraud-scorer]
    slo: {freshness: 5s, objective: 99.9}
"""

POSTGRES = """
sources:
  - name: orders-db
    kind: postgres
    dsn: "${ORDERS_DSN}"     # a role with pg_monitor
    interval: 10s
"""

MYSQL = """
sources:
  - name: legacy
    kind: mysql
    dsn_file: /run/secrets/legacy_dsn   # REPLICATION CLIENT (BINLOG MONITOR on MariaDB)
    interval: 10s
"""

KAFKA = """
kafka:
  - name: main
    bootstrap: "127.0.0.1:9092"
    interval: 10s
    groups: {include: [".*"]}
"""

OUTBOX = """
sources:
  - name: orders-db
    kind: postgres
    dsn: "${ORDERS_DSN}"
    outbox:
      - {table: public.outbox, created_at: created_at, published_at: published_at}
"""

RECEIVERS = """
alerts:
  receivers:
    - {name: oncall, pagerduty: {routing_key: "${PD_KEY}"}}
    - {name: team, slack: {webhook_url: "${SLACK_URL}"}}
  routes: [{match: {severity: page}, receiver: oncall}, {receiver: team}]
"""
