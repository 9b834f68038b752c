#!/usr/bin/env bash
#
# test/bench/drift.sh: mlops.drift against the Python path, side by side
#
#   bash test/bench/drift.sh [--no-build] [--rows N] [--repeat N]
#
# Builds and installs mlops (unless --no-build), starts a throwaway cluster
# (test/lib.sh), trains a linear model on 40,000 rows of 20 numeric features
# (30,000 training rows, so the profile keeps a 10,000-value sample per
# feature and auto picks normed Wasserstein), and checks a relation of N
# rows (default 1,000,000) in which 4 features have shifted:
#
#   mlops.drift    one call: one scan of the relation, scoring, 21 statistics
#   Python path    COPY the same rows out (CSV), parse them with NumPy, score
#                  them with the same linear model, and run the same SciPy
#                  tests (wasserstein_distance against the profile's sample,
#                  divided by the reference std), plus the NULL and
#                  out-of-range shares
#
# Both get the reference (the profile) for free.  Each is timed best of
# --repeat runs (default 5); the results must agree (1e-9 relative on the
# features, 1e-6 on the predictions).  Prints a table and the speed ratio.
# Needs root or the postgres user, like test/run.sh; --no-build also skips
# the Debian package check.
set -euo pipefail

# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"

build=1 rows=1000000 repeat=5
while (($#)); do
	case $1 in
		--no-build)
			build=0
			shift
			;;
		--rows)
			rows=$2
			shift 2
			;;
		--repeat)
			repeat=$2
			shift 2
			;;
		*)
			echo "usage: bash test/bench/drift.sh [--no-build] [--rows N] [--repeat N]" >&2
			exit 2
			;;
	esac
done

if ((build)); then
	mlops_install_deps
	mlops_build
fi
mlops_cluster_start "shared_preload_libraries = 'mlops'" "shared_buffers = 512MB"
mlops_psql -c "CREATE EXTENSION mlops"

mlops_log "data: 40000 reference rows, $rows current rows, 20 features"
mlops_psql -v rows="$rows" <<'SQL'
SELECT setseed(0.42);
CREATE TABLE bench_reference AS
SELECT i AS id, x[1] AS x1, x[2] AS x2, x[3] AS x3, x[4] AS x4, x[5] AS x5, x[6] AS x6, x[7] AS x7,
       x[8] AS x8, x[9] AS x9, x[10] AS x10, x[11] AS x11, x[12] AS x12, x[13] AS x13, x[14] AS x14,
       x[15] AS x15, x[16] AS x16, x[17] AS x17, x[18] AS x18, x[19] AS x19, x[20] AS x20,
       x[1] + 2 * x[2] - x[3] + 0.5 * x[4] + 0.1 * x[20] + random() AS y
FROM (SELECT i, ARRAY(SELECT random() * 10 FROM generate_series(1, 20) WHERE i > 0) AS x
      FROM generate_series(1, 40000) i) s;
-- the current rows: x1 and x2 moved, x3 wider, x4 squeezed
CREATE TABLE bench_current AS
SELECT i AS id, x[1] + 1 AS x1, x[2] + 2 AS x2, x[3] * 1.5 AS x3, x[4] * 0.5 AS x4, x[5] AS x5,
       x[6] AS x6, x[7] AS x7, x[8] AS x8, x[9] AS x9, x[10] AS x10, x[11] AS x11, x[12] AS x12,
       x[13] AS x13, x[14] AS x14, x[15] AS x15, x[16] AS x16, x[17] AS x17, x[18] AS x18,
       x[19] AS x19, x[20] AS x20
FROM (SELECT i, ARRAY(SELECT random() * 10 FROM generate_series(1, 20) WHERE i > 0) AS x
      FROM generate_series(1, :rows) i) s;
VACUUM ANALYZE bench_reference, bench_current;
SELECT model_id FROM mlops.train('bench', 'bench_reference', 'y', algorithm => 'linear',
                                 exclude => '{id}', split => 'last', order_by => 'id');
SQL

DRIFT_BENCH_REPEAT=$repeat /usr/bin/python3 "$MLOPS_ROOT/test/bench/drift_bench.py"
