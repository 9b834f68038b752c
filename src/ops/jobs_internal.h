/*-------------------------------------------------------------------------
 *
 * jobs_internal.h
 *	  Helpers of the job store (jobs_store.c) that the SQL entry points
 *	  (jobs_sql.c) use too; not for other modules.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_JOBS_INTERNAL_H
#define MLOPS_JOBS_INTERNAL_H

#include "postgres.h"

extern void JobsLogEvent(const char *status, int64 job_id, const char *kind, const char *project,
						 int64 model_id, const char *error, int sqlerrcode);

#endif							/* MLOPS_JOBS_INTERNAL_H */
