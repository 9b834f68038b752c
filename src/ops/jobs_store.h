/*-------------------------------------------------------------------------
 *
 * jobs_store.h
 *	  The job store: the access to mlops.jobs and mlops.schedules that the
 *	  background worker (worker.c) and the SQL entry points (jobs_sql.c)
 *	  use.  The store depends on neither, so the worker and the SQL entry
 *	  points can both depend on it without a cycle.
 *
 * Every function that reads or writes the tables runs inside a transaction
 * with SPI connected (the caller's, or the worker's).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_JOBS_STORE_H
#define MLOPS_JOBS_STORE_H

#include "postgres.h"

#include "utils/jsonb.h"

/* a queued job the launcher may start */
typedef struct JobsQueued
{
	int64		id;
	Oid			roleoid;		/* the role that submitted it */
} JobsQueued;

/* the launcher */
extern bool JobsTablesExist(void);
extern void JobsFailRunning(const int64 *ids, int nids, bool only_these, const char *error);
extern void JobsQueueDueSchedules(void);
extern long JobsNextScheduleWait(long max_ms);
extern int	JobsTakeQueued(int limit, JobsQueued **jobs);
extern void JobsRequeue(int64 job_id);

/* the job worker */
extern bool JobsStart(int64 job_id, char **kind, Jsonb **args);
extern Jsonb *JobsRun(const char *kind, Jsonb *args);
extern void JobsFinish(int64 job_id, const char *status, Jsonb *result,
					   const char *error, int sqlerrcode);

#endif							/* MLOPS_JOBS_STORE_H */
