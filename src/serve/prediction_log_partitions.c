/*-------------------------------------------------------------------------
 *
 * prediction_log_partitions.c
 *	  The day partitions of mlops.predictions, made and dropped by the
 *	  background worker.
 *
 * mlops.predictions is partitioned by range of predicted_at, a partition
 * per day (UTC) named mlops.predictions_YYYYMMDD, plus the default
 * partition of the extension's script for rows of a day that has none.
 * Rows are written in time order, so a day's rows lie together and the
 * BRIN index on predicted_at narrows a window to its pages; retention
 * deletes old rows, which would leave their space to be filled by new
 * rows and widen every BRIN range, but here it only ever frees space in
 * past days' partitions, which take no new rows, and a partition it has
 * emptied is dropped whole.
 *
 * Before it writes rows the worker makes the partitions of today and
 * tomorrow that do not exist yet: each a table LIKE the default partition
 * with its indexes (the partitioned table has none, so that pg_restore
 * does not make a partition's indexes twice), REPLICA IDENTITY FULL,
 * attached with ATTACH PARTITION (whose SHARE
 * UPDATE EXCLUSIVE lock on mlops.predictions lets every reader and the
 * worker's own inserts go on).  At its full passes, after retention's
 * deletes, it drops each past day's partition that holds no row; DROP
 * TABLE of a partition locks mlops.predictions ACCESS EXCLUSIVE for the
 * rest of the pass, and waits for that lock at most
 * LOG_PARTITION_LOCK_TIMEOUT (a reader holding it makes the drop wait for
 * a later pass, not block the readers queued behind it).  Each runs in a
 * subtransaction (WorkerTryIsolated) as the extension owner (owner_sql.c),
 * so a partition that
 * cannot be made or dropped now (a lock not granted in time, an
 * administrator's table of that name, rows of that day already in the
 * default partition) is reported once in the server log and tried again a
 * minute later, and the pass goes on; the rows of a day without a
 * partition go to the default partition.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "ops/worker.h"
#include "registry.h"
#include "serve/prediction_log_partitions.h"

/* how long making or dropping a partition waits for a lock (ms) */
#define LOG_PARTITION_LOCK_TIMEOUT "100"
/* how long after a failure the same partition is tried again (ms) */
#define LOG_PARTITION_RETRY_MS 60000

/* the partition whose making or dropping last failed, and when to retry */
static char last_failed[NAMEDATALEN];
static TimestampTz retry_at = 0;

/*
 * Today (UTC), as days since 2000-01-01.
 */
static int64
LogToday(void)
{
	TimestampTz now = GetCurrentTimestamp();

	return now >= 0 ? now / USECS_PER_DAY : -((-now + USECS_PER_DAY - 1) / USECS_PER_DAY);
}

/*
 * A day formatted by fmt, which takes its year, month and day: the name of
 * its partition (LOG_PARTITION_NAME) or its start as a timestamptz literal
 * (LOG_DAY_START); palloc'd.
 */
#define LOG_PARTITION_NAME "predictions_%04d%02d%02d"
#define LOG_DAY_START "%04d-%02d-%02d 00:00:00+00"

static char *
LogDayFormat(int64 day, const char *fmt)
{
	int			y,
				m,
				d;

	j2date((int) (day + POSTGRES_EPOCH_JDATE), &y, &m, &d);
	return psprintf(fmt, y, m, d);
}

/*
 * Make a day's partition (its name is ours: letters, digits and "_", no
 * quoting needed).
 */
static void
LogPartitionCreate(const char *name, int64 day)
{
	char	   *from = LogDayFormat(day, LOG_DAY_START);

	RegistryWriteAsOwner(psprintf("CREATE TABLE mlops.%s (LIKE mlops.predictions_default INCLUDING INDEXES)", name),
						 0, NULL, NULL, NULL);
	RegistryWriteAsOwner(psprintf("ALTER TABLE mlops.%s REPLICA IDENTITY FULL", name),
						 0, NULL, NULL, NULL);
	RegistryWriteAsOwner(psprintf("COMMENT ON TABLE mlops.%s IS 'The rows of mlops.predictions "
								  "predicted on the day (UTC) that starts at %s: a partition that the "
								  "background worker made and drops once retention has emptied it. "
								  "Read the log through mlops.predictions.'", name, from),
						 0, NULL, NULL, NULL);
	RegistryWriteAsOwner(psprintf("ALTER TABLE mlops.predictions ATTACH PARTITION mlops.%s "
								  "FOR VALUES FROM ('%s') TO ('%s')", name, from,
								  LogDayFormat(day + 1, LOG_DAY_START)),
						 0, NULL, NULL, NULL);
}

/*
 * Drop a past day's partition if it holds no row.
 */
static void
LogPartitionDrop(const char *name)
{
	RegistryReadAsOwner(psprintf("SELECT FROM mlops.%s LIMIT 1", name), 0, NULL, NULL, NULL);
	if (SPI_processed == 0)
		RegistryWriteAsOwner(psprintf("DROP TABLE mlops.%s", name), 0, NULL, NULL, NULL);
}

/* a partition to make or drop, for LogPartitionRun */
typedef struct LogPartitionAction
{
	bool		create;
	const char *name;
	int64		day;
} LogPartitionAction;

/*
 * Make or drop a partition, waiting for locks at most
 * LOG_PARTITION_LOCK_TIMEOUT.
 */
static void
LogPartitionRun(void *arg)
{
	LogPartitionAction *a = arg;
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("lock_timeout", LOG_PARTITION_LOCK_TIMEOUT, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (a->create)
		LogPartitionCreate(a->name, a->day);
	else
		LogPartitionDrop(a->name);
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Make or drop a partition in a subtransaction.  An error is reported once
 * (until another partition fails) and does not fail the caller; the
 * partition is not tried again for LOG_PARTITION_RETRY_MS (a day whose
 * rows went to the default partition cannot have its own any more, and
 * each try would make a table and throw it away).
 */
static void
LogPartitionTry(bool create, const char *name, int64 day)
{
	LogPartitionAction a = {create, name, day};
	ErrorData  *edata;

	if (strcmp(last_failed, name) == 0 && GetCurrentTimestamp() < retry_at)
		return;
	edata = WorkerTryIsolated(LogPartitionRun, &a);
	if (edata == NULL)
	{
		if (strcmp(last_failed, name) == 0)
			last_failed[0] = '\0';
		return;
	}
	retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), LOG_PARTITION_RETRY_MS);
	if (strcmp(last_failed, name) != 0)
	{
		ereport(LOG,
				(errmsg(create ? "could not create partition \"mlops.%s\" of the prediction log: %s" :
						"could not drop partition \"mlops.%s\" of the prediction log: %s",
						name, edata->message),
				 errhint("The background worker tries again in a minute.")));
		strlcpy(last_failed, name, NAMEDATALEN);
	}
	FreeErrorData(edata);
}

/*
 * Make the partitions of today and tomorrow that do not exist.
 */
void
LogPartitionsMake(void)
{
	Oid			nsp = get_namespace_oid("mlops", false);
	int64		today = LogToday();

	for (int64 day = today; day <= today + 1; day++)
	{
		char	   *name = LogDayFormat(day, LOG_PARTITION_NAME);

		if (!OidIsValid(get_relname_relid(name, nsp)))
			LogPartitionTry(true, name, day);
	}
}

/*
 * Drop the partitions of past days that hold no row (retention deleted
 * them all, or none was logged).
 */
void
LogPartitionsDropEmpty(void)
{
	Oid			types[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	List	   *names = NIL;
	ListCell   *lc;

	values[0] = ObjectIdGetDatum(RegistryTableOid("predictions"));
	values[1] = CStringGetTextDatum(LogDayFormat(LogToday(), LOG_PARTITION_NAME));
	RegistryReadAsOwner("SELECT c.relname::pg_catalog.text AS name "
						"FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c "
						"ON c.oid OPERATOR(pg_catalog.=) i.inhrelid "
						"WHERE i.inhparent OPERATOR(pg_catalog.=) $1 "
						"AND c.relname::pg_catalog.text OPERATOR(pg_catalog.~) '^predictions_[0-9]{8}$' "
						"AND c.relname::pg_catalog.text OPERATOR(pg_catalog.<) $2 ORDER BY 1",
						2, types, values, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
		names = lappend(names, RegistryResultText(r, "name", CurrentMemoryContext));
	foreach(lc, names)
		LogPartitionTry(false, lfirst(lc), 0);
}
