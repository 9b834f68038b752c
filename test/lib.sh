# shellcheck shell=bash
#
# test/lib.sh: shell functions shared by the mlops test, demo and CI scripts
#
# Source it from bash:  . "$(dirname "$0")/../test/lib.sh"
#
#   mlops_install_deps           install the Debian packages (as root, only if missing)
#   mlops_citus_install          build and install Citus from shared/vendor if citus.so is missing
#   mlops_citus_node_start [LINE]       a cluster with citus and mlops preloaded, citus created
#   mlops_citus_cluster_start N [LINE]  Citus coordinator (current cluster) and N workers
#   mlops_build                  make + make install (PG_CFLAGS from $MLOPS_CFLAGS)
#   mlops_cluster_start [LINE]   throwaway cluster; extra postgresql.conf lines as arguments
#   mlops_cluster_stop [MODE]    stop it (smart | fast | immediate), keeping its data
#   mlops_cluster_restart [MODE] stop it if running, then start it again
#   mlops_psql [ARGS]            psql of the cluster, stopping at the first error
#   mlops_timeout SECONDS CMD... run CMD with a time limit (Ctrl-C still stops it)
#   mlops_csv_table_sql CSV TABLE LABEL TYPE [COLUMN TYPE]...
#   mlops_load_csv      CSV TABLE LABEL TYPE [COLUMN TYPE]...
#
# mlops_cluster_start exports PGHOST, PGPORT, PGUSER, PGDATABASE and
# MLOPS_CLUSTER_DIR; stop and restart act on the cluster in MLOPS_CLUSTER_DIR.
# It also sets the EXIT, INT and TERM traps that stop and remove every cluster
# started by the shell. Messages go to stderr, so TAP output stays clean.
# Set MLOPS_KEEP_CLUSTER=1 to keep cluster directories for debugging.

MLOPS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ -z ${PG_CONFIG:-} ]]; then
	PG_CONFIG=pg_config
	[[ -x /usr/lib/postgresql/15/bin/pg_config ]] && PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
fi
export PG_CONFIG

# Compiler flags of the test and CI builds (PostgreSQL 15 headers compile cleanly with them)
MLOPS_STRICT_CFLAGS="-Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers -Werror -DUSE_ASSERT_CHECKING"

MLOPS_DEB_PACKAGES=(
	build-essential make gcc perl
	postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap postgresql-15-cron
	libxgboost-dev libopenblas-dev liblapacke-dev
	libtap-parser-sourcehandler-pgtap-perl
	python3 python3-psycopg2 python3-numpy python3-scipy python3-sklearn python3-xgboost python3-statsmodels
	prometheus-postgres-exporter prometheus curl chromium
)

# Directories of the clusters started by this shell, removed on exit
MLOPS_CLUSTER_DIRS=()

# Print a progress message
mlops_log() {
	printf '==> %s\n' "$*" >&2
}

# Print an error message and exit with status 1
mlops_die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Install the missing Debian packages (with Citus's build dependencies unless
# MLOPS_SKIP_CITUS=1); do nothing when all are installed
mlops_install_deps() {
	local pkg missing=() packages=("${MLOPS_DEB_PACKAGES[@]}")

	[[ ${MLOPS_SKIP_CITUS:-} == 1 ]] || packages+=("${MLOPS_CITUS_DEB_PACKAGES[@]}")
	for pkg in "${packages[@]}"; do
		[[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] || missing+=("$pkg")
	done
	if ((${#missing[@]} == 0)); then
		mlops_log "dependencies: all ${#packages[@]} Debian packages are installed"
		return 0
	fi
	((EUID == 0)) || mlops_die "missing Debian packages: ${missing[*]} (run as root to install them)"
	mlops_log "dependencies: apt-get install ${missing[*]}"
	apt-get update -qq || mlops_die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
		mlops_die "apt-get install failed"
}

# Build and install. -B recompiles every object, so the flags apply even after an
# earlier plain make. MLOPS_CFLAGS wins when set; CI=true defaults to the strict flags.
mlops_build() {
	local flags=${MLOPS_CFLAGS-}

	if [[ -z ${MLOPS_CFLAGS+set} && ${CI:-} == true ]]; then
		flags=$MLOPS_STRICT_CFLAGS
	fi
	mlops_log "build: make -B in $MLOPS_ROOT with PG_CFLAGS='$flags'"
	PG_CFLAGS=$flags make -C "$MLOPS_ROOT" -B -j "$(nproc)" || mlops_die "build failed"
	mlops_log "install: make install"
	make -C "$MLOPS_ROOT" install || mlops_die "make install failed"
}

# Run a server program as the postgres OS user when we are root (initdb refuses root)
mlops_as_pg() {
	if ((EUID == 0)); then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# First port from $MLOPS_PORT_BASE (55432) that no server (the system's, other throwaway ones) uses
mlops_free_port() {
	local base=${MLOPS_PORT_BASE:-55432} port rc sockets

	for ((port = base; port < base + 200; port++)); do
		sockets=("${TMPDIR:-/tmp}"/mlops.*/.s.PGSQL."$port" /tmp/.s.PGSQL."$port" /var/run/postgresql/.s.PGSQL."$port")
		[[ -e ${sockets[0]} || -e ${sockets[1]} || -e ${sockets[2]} ]] && continue
		rc=0
		"$MLOPS_PGBIN/pg_isready" -q -h localhost -p "$port" -t 2 || rc=$?
		((rc == 2)) || continue # 2: nothing answers on localhost:$port
		echo "$port"
		return 0
	done
	mlops_die "no free port in $base-$((base + 199))"
}

# Create and start a throwaway cluster; arguments are extra postgresql.conf lines
mlops_cluster_start() {
	local dir port

	MLOPS_PGBIN=$("$PG_CONFIG" --bindir) || mlops_die "pg_config not found"
	dir=$(mktemp -d "${TMPDIR:-/tmp}/mlops.XXXXXX") || mlops_die "mktemp failed"
	MLOPS_CLUSTER_DIRS+=("$dir")
	# the traps, once (a script may have listed a directory of its own first)
	if [[ -z ${MLOPS_TRAPS_SET:-} ]]; then
		MLOPS_TRAPS_SET=1
		trap mlops_cleanup EXIT
		trap 'mlops_interrupted 130' INT
		trap 'mlops_interrupted 143' TERM
	fi
	chmod 755 "$dir"
	if ((EUID == 0)); then
		chown postgres: "$dir" || mlops_die "cannot give $dir to the postgres user"
	fi
	port=$(mlops_free_port) || exit 1

	mlops_log "cluster: initdb in $dir"
	mlops_as_pg "$MLOPS_PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C -N \
		>"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		mlops_die "initdb failed"
	}
	printf '%s\n' \
		"# throwaway test cluster (test/lib.sh)" \
		"port = $port" \
		"listen_addresses = ''" \
		"unix_socket_directories = '$dir'" \
		"fsync = off" \
		"synchronous_commit = off" \
		"full_page_writes = off" \
		"shared_buffers = 64MB" \
		"max_connections = 40" \
		"max_wal_size = 1GB" \
		"lc_messages = 'C'" \
		"log_line_prefix = '%m [%p] %q%u@%d '" \
		"$@" >>"$dir/data/postgresql.conf"

	export MLOPS_CLUSTER_DIR=$dir PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres
	mlops_pg_ctl_start
}

# pg_ctl on the data directory of cluster directory $1
mlops_pg_ctl() {
	local dir=$1

	shift
	mlops_as_pg "$MLOPS_PGBIN/pg_ctl" -D "$dir/data" "$@"
}

# Start the current cluster, showing its log if it does not come up
mlops_pg_ctl_start() {
	mlops_log "cluster: start on port $PGPORT (socket in $MLOPS_CLUSTER_DIR)"
	mlops_pg_ctl "$MLOPS_CLUSTER_DIR" -l "$MLOPS_CLUSTER_DIR/server.log" -w -t 60 -s start || {
		tail -n 30 "$MLOPS_CLUSTER_DIR/server.log" >&2
		mlops_die "cluster did not start (log above)"
	}
}

# True when the current cluster is running
mlops_cluster_running() {
	mlops_pg_ctl "$MLOPS_CLUSTER_DIR" status >/dev/null 2>&1
}

# Stop the current cluster (default fast; immediate simulates a crash), keeping its data
mlops_cluster_stop() {
	local mode=${1:-fast}

	mlops_log "cluster: stop ($mode) on port $PGPORT"
	mlops_pg_ctl "$MLOPS_CLUSTER_DIR" -m "$mode" -w -t 60 -s stop ||
		mlops_die "cluster did not stop"
}

# Stop the current cluster if it runs (mode as for mlops_cluster_stop), then start it
mlops_cluster_restart() {
	if mlops_cluster_running; then
		mlops_cluster_stop "${1:-fast}"
	fi
	mlops_pg_ctl_start
}

# EXIT trap: stop every cluster started here, show a log tail on failure, remove it
mlops_cleanup() {
	local rc=$? dir

	# every server first: a directory removed below may hold the programs
	# of a server listed after it (a private copy of PostgreSQL)
	for dir in "${MLOPS_CLUSTER_DIRS[@]}"; do
		if [[ -f $dir/data/postmaster.pid ]]; then
			mlops_pg_ctl "$dir" -m immediate -w -s stop >/dev/null 2>&1 || true
		fi
	done
	for dir in "${MLOPS_CLUSTER_DIRS[@]}"; do
		if ((rc != 0)) && [[ -s $dir/server.log ]]; then
			mlops_log "last lines of $dir/server.log:"
			tail -n 20 "$dir/server.log" >&2
		fi
		if [[ -n ${MLOPS_KEEP_CLUSTER:-} ]]; then
			mlops_log "cluster: kept $dir"
		else
			rm -rf "$dir"
		fi
	done
	exit "$rc"
}

# Run a command with a time limit. It runs in the background and is waited
# for, so that Ctrl-C interrupts the wait at once and stops the command too.
mlops_timeout() {
	local seconds=$1 rc=0

	shift
	timeout -k 10 "$seconds" "$@" &
	MLOPS_CHILD=$!
	wait "$MLOPS_CHILD" || rc=$?
	MLOPS_CHILD=""
	((rc != 124)) || mlops_log "timed out after $seconds s: $*"
	return "$rc"
}

# INT and TERM trap: stop the command run by mlops_timeout, then exit (which cleans up)
mlops_interrupted() {
	[[ -z ${MLOPS_CHILD:-} ]] || kill -TERM "$MLOPS_CHILD" 2>/dev/null || true
	exit "$1"
}

# psql on the current cluster, without psqlrc, quiet, stopping at the first error
mlops_psql() {
	"$MLOPS_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

# Print CREATE TABLE for a CSV file: one column per header field, float8
# unless given a type (the label first, then optional COLUMN TYPE pairs)
mlops_csv_table_sql() {
	local csv=$1 table=$2 header col cols=() defs=()
	local -A types=()

	shift 2
	(($# >= 2 && $# % 2 == 0)) || mlops_die "usage: mlops_csv_table_sql CSV TABLE LABEL TYPE [COLUMN TYPE]..."
	while (($#)); do
		types[$1]=$2
		shift 2
	done
	IFS= read -r header <"$csv" || mlops_die "cannot read a header from $csv"
	header=${header%$'\r'}
	IFS=, read -ra cols <<<"${header//\"/}"
	for col in "${cols[@]}"; do
		defs+=("\"$col\" ${types[$col]:-float8}")
		unset 'types[$col]'
	done
	((${#types[@]} == 0)) || mlops_die "$csv has no column named: ${!types[*]}"
	local IFS=,
	printf 'CREATE TABLE %s (%s);\n' "$table" "${defs[*]}"
}

# Create TABLE from the CSV header (see mlops_csv_table_sql) and load the file
mlops_load_csv() {
	local csv=$1 table=$2 sql

	sql=$(mlops_csv_table_sql "$@") || exit 1
	mlops_psql -c "$sql" -c "\\copy $table FROM '$csv' WITH (FORMAT csv, HEADER true, NULL 'NA')" >/dev/null ||
		mlops_die "could not load $csv"
	mlops_log "data: loaded $(mlops_psql -Atc "SELECT count(*) FROM $table") rows of $(basename "$csv") into $table"
}

# Citus, a test-time dependency of test/integration/citus.sh (mlops never links it).
# Its source tarball sits in shared/vendor next to the checkout (or next to the
# checkout's parent, for git worktrees); MLOPS_CITUS_TARBALL overrides.
if [[ -z ${MLOPS_CITUS_TARBALL:-} ]]; then
	MLOPS_CITUS_TARBALL=$MLOPS_ROOT/../shared/vendor/citus-12.1.12.tar.gz
	[[ -f $MLOPS_CITUS_TARBALL ]] || MLOPS_CITUS_TARBALL=$MLOPS_ROOT/../../shared/vendor/citus-12.1.12.tar.gz
fi
MLOPS_CITUS_DEB_PACKAGES=(
	libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libssl-dev libselinux1-dev
	libxml2-dev libxslt1-dev libpam0g-dev libreadline-dev
)

# True when citus.so is installed in $PG_CONFIG's library directory
mlops_citus_installed() {
	[[ -f $("$PG_CONFIG" --pkglibdir)/citus.so ]]
}

# Build Citus from $MLOPS_CITUS_TARBALL in a temporary directory and install it
# into $PG_CONFIG's installation; do nothing when citus.so is already there
mlops_citus_install() {
	local build rc=0

	if mlops_citus_installed; then
		mlops_log "citus: citus.so is installed"
		return 0
	fi
	[[ -f $MLOPS_CITUS_TARBALL ]] || mlops_die "citus: no source tarball at $MLOPS_CITUS_TARBALL"
	build=$(mktemp -d "${TMPDIR:-/tmp}/mlops-citus.XXXXXX") || mlops_die "mktemp failed"
	mlops_log "citus: building $(basename "$MLOPS_CITUS_TARBALL") in $build (log: $build/build.log)"
	(
		set -e
		tar -xzf "$MLOPS_CITUS_TARBALL" -C "$build" --strip-components=1
		cd "$build"
		./configure PG_CONFIG="$PG_CONFIG" --without-libcurl
		make -j "$(nproc)"
		make install
	) >"$build/build.log" 2>&1 || rc=$?
	if ((rc != 0)); then
		tail -n 30 "$build/build.log" >&2
		mlops_die "citus: build failed (log above, directory $build kept)"
	fi
	rm -rf "$build"
	mlops_log "citus: installed into $("$PG_CONFIG" --pkglibdir)"
}

# Start a cluster for a Citus node (the current cluster, on localhost) with
# shared_preload_libraries = 'citus,mlops' and the extra postgresql.conf
# lines given, and create the citus extension in it
mlops_citus_node_start() {
	mlops_cluster_start "listen_addresses = 'localhost'" "shared_preload_libraries = 'citus,mlops'" \
		"max_prepared_transactions = 20" "max_connections = 60" \
		"citus.enable_statistics_collection = off" "$@"
	export PGHOST=localhost
	mlops_psql -c "SET client_min_messages = warning" -c "CREATE EXTENSION citus" ||
		mlops_die "CREATE EXTENSION citus failed on port $PGPORT"
}

# Start N worker nodes and a coordinator (the current cluster), with the
# extra postgresql.conf lines given, and add the workers to the coordinator.
# Sets MLOPS_CITUS_WORKER_PORTS (an array).
mlops_citus_cluster_start() {
	local n=$1 i port

	shift
	MLOPS_CITUS_WORKER_PORTS=()
	for ((i = 0; i <= n; i++)); do
		mlops_citus_node_start "$@"
		((i == n)) || MLOPS_CITUS_WORKER_PORTS+=("$PGPORT")
	done
	mlops_psql -c "SELECT citus_set_coordinator_host('localhost', $PGPORT)" >/dev/null
	for port in "${MLOPS_CITUS_WORKER_PORTS[@]}"; do
		mlops_psql -c "SELECT citus_add_node('localhost', $port)" >/dev/null ||
			mlops_die "citus_add_node failed for port $port"
	done
	mlops_log "citus: coordinator on port $PGPORT, workers on ${MLOPS_CITUS_WORKER_PORTS[*]}"
}
