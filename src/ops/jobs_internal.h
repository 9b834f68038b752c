/*-------------------------------------------------------------------------
 *
 * jobs_internal.h
 *	  Helpers of the job store (jobs_store.c) that the SQL entry points
 *	  (jobs_sql.c) use too; not for other modules.
 *
 * The Result functions read the last SPI result, so SPI must be connected.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_JOBS_INTERNAL_H
#define MLOPS_JOBS_INTERNAL_H

#include "postgres.h"

extern int64 JobsResultInt64(uint64 row, int col);
extern char *JobsResultText(uint64 row, int col, MemoryContext cxt);
extern Oid	JobsResultOid(uint64 row, int col);
extern void JobsLogEvent(const char *status, int64 job_id, const char *kind, const char *project,
						 int64 model_id, const char *error, int sqlerrcode);

#endif							/* MLOPS_JOBS_INTERNAL_H */
