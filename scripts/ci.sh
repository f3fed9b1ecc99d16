#!/usr/bin/env bash
# CI driver, run by `make ci` (which `.ci/run` calls).
#
#   1. makes sure PostgreSQL server binaries exist (apt-get installs `postgresql` if not);
#   2. starts a throw-away cluster in a temp dir on a free 127.0.0.1 port (55433 upward);
#   3. runs `make test` with LEADFLOW_TEST_POSTGRES_URL / LEADFLOW_REQUIRE_POSTGRES=1 set;
#   4. always stops the cluster and removes the temp dir, and exits with the test exit code.
#
# Overrides (for checking this script without running the whole suite):
#   LEADFLOW_CI_TEST_COMMAND  command run instead of `make test`, through `bash -c`, with the
#                             variables above exported, e.g.
#                             LEADFLOW_CI_TEST_COMMAND='psql "$LEADFLOW_TEST_POSTGRES_URL" -c "select 1"' bash scripts/ci.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "== ci: $*"; }
die() {
    echo "== ci: ERROR: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- privileges / apt
if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n) # -n: never prompt (CI has no stdin)
else
    SUDO=()
fi

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
    if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
        die "need root or sudo to install $*"
    fi
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        "${SUDO[@]}" apt-get update -q </dev/null
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" </dev/null
}

# ---------------------------------------------------------------- python venv support
# Debian's own python3 ships without ensurepip, so `make`'s `python3 -m venv` would fail
# on a fresh machine; only matters while .venv does not exist yet.
if [[ ! -x .venv/bin/python ]] && ! "${PYTHON:-python3}" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_install python3-venv
fi

# ---------------------------------------------------------------- postgres binaries
# Debian keeps server binaries in /usr/lib/postgresql/<version>/bin, off PATH; anything on
# PATH may be a pg_wrapper, so it is deliberately not used.
find_pg_bin() {
    local dir
    while IFS= read -r dir; do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
            echo "$dir"
            return 0
        fi
    done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -rV)
    return 1
}

if ! PG_BIN=$(find_pg_bin); then
    log "no PostgreSQL server binaries under /usr/lib/postgresql; installing"
    apt_install postgresql
    PG_BIN=$(find_pg_bin) || die "PostgreSQL server binaries (initdb, pg_ctl) still missing under /usr/lib/postgresql/<version>/bin after installing 'postgresql'"
fi
PG_VERSION=$(basename "$(dirname "$PG_BIN")")

# ---------------------------------------------------------------- who runs the server
# initdb refuses to run as root: as root, run the server as `postgres` (created by the
# Debian package) or, failing that, a dedicated system user.
RUN_AS=()
PG_USER=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
    if id -u postgres >/dev/null 2>&1; then
        PG_USER=postgres
    else
        PG_USER=leadflow-ci
        if ! id -u "$PG_USER" >/dev/null 2>&1; then
            log "creating system user $PG_USER"
            useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
        fi
    fi
    RUN_AS=(runuser -u "$PG_USER" --)
fi

# ---------------------------------------------------------------- temp dir + cleanup
PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/leadflow-ci-pg.XXXXXX")
PG_DATA=$PG_TMP/data
PG_LOG=$PG_TMP/server.log
PG_STARTED=0

as_pg() { (cd "$PG_TMP" && "${RUN_AS[@]}" "$@"); }

# shellcheck disable=SC2317  # only invoked through the EXIT trap
cleanup() {
    local rc=$?
    set +e
    if [[ $PG_STARTED -eq 1 ]]; then
        log "stopping postgres"
        if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1; then
            # Last resort: the postmaster we started, by its pid.
            local pid
            pid=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null)
            if [[ $pid =~ ^[0-9]+$ ]]; then
                kill -QUIT "$pid" 2>/dev/null
                sleep 1
            fi
        fi
    fi
    rm -rf "$PG_TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ${#RUN_AS[@]} -gt 0 ]]; then
    chown "$PG_USER" "$PG_TMP"
    # A private TMPDIR (e.g. under /root) may not be reachable by $PG_USER: fall back to /tmp.
    if ! as_pg test -w "$PG_TMP" 2>/dev/null; then
        rm -rf "$PG_TMP"
        PG_TMP=$(mktemp -d /tmp/leadflow-ci-pg.XXXXXX)
        PG_DATA=$PG_TMP/data
        PG_LOG=$PG_TMP/server.log
        chown "$PG_USER" "$PG_TMP"
    fi
fi

# ---------------------------------------------------------------- free port
# SO_REUSEADDR as postgres itself uses it: a port with only TIME_WAIT leftovers counts as
# free, one with a listener does not (Linux refuses that bind even with SO_REUSEADDR).
port_free() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

PG_PORT=
for port in $(seq 55433 55532); do
    if port_free "$port"; then
        PG_PORT=$port
        break
    fi
done
[[ -n $PG_PORT ]] || die "no free TCP port on 127.0.0.1 in 55433-55532"

# ---------------------------------------------------------------- initdb + start
log "postgres $PG_VERSION at 127.0.0.1:$PG_PORT (data in $PG_DATA, running as $PG_USER)"
if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
    >"$PG_TMP/initdb.log" 2>&1; then
    cat "$PG_TMP/initdb.log" >&2
    die "initdb failed"
fi

PG_STARTED=1
if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -W start \
    -o "-p $PG_PORT -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null; then
    cat "$PG_LOG" >&2 || true
    die "pg_ctl start failed"
fi

ready=0
for i in $(seq 1 60); do # 60 x 0.5 s = 30 s
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -t 1; then
        ready=1
        break
    fi
    # After a few seconds, stop waiting if the postmaster has already died.
    if [[ $i -gt 6 ]] && ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        break
    fi
    sleep 0.5
done
if [[ $ready -ne 1 ]]; then
    echo "---- postgres server log ($PG_LOG) ----" >&2
    cat "$PG_LOG" >&2 || true
    echo "---- end of server log ----" >&2
    die "postgres did not become ready on 127.0.0.1:$PG_PORT within 30 s"
fi
log "postgres ready"

# ---------------------------------------------------------------- tests
export LEADFLOW_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
export LEADFLOW_REQUIRE_POSTGRES=1

set +e
if [[ -n ${LEADFLOW_CI_TEST_COMMAND:-} ]]; then
    log "running: $LEADFLOW_CI_TEST_COMMAND"
    bash -c "$LEADFLOW_CI_TEST_COMMAND" </dev/null
else
    log "running: make test"
    make test </dev/null
fi
rc=$?
set -e

if [[ $rc -eq 0 ]]; then
    log "tests passed"
else
    # pytest's 5 (no tests collected) is non-zero too, so it fails here like any other error.
    log "tests FAILED (exit $rc)"
fi
exit "$rc"
