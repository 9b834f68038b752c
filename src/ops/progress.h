/*-------------------------------------------------------------------------
 *
 * progress.h
 *	  Shared-memory job slots: which job each background job worker runs,
 *	  how far it got, and the cancel requests sent to it.
 *
 * The slots exist only when mlops is in shared_preload_libraries; without
 * them every function here is a cheap no-op (or reports no jobs).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PROGRESS_H
#define MLOPS_PROGRESS_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* what one slot holds, copied out of shared memory */
typedef struct ProgressSlotInfo
{
	int64		job_id;			/* 0: the slot is free */
	Oid			dboid;			/* the database of the job */
	int			pid;			/* 0 until the job worker has attached */
	bool		cancel;			/* mlops.cancel_job asked to stop the job */
	TimestampTz claimed_at;		/* when the launcher claimed the slot */
	TimestampTz started_at;		/* when the job worker attached */
} ProgressSlotInfo;

/* Progress reporting for the training code: no-ops outside a job worker */
extern void MlopsProgressPhase(const char *phase, int64 total);
extern void MlopsProgressAdvance(int64 done);

/* Shared memory set-up (from _PG_init, while preloading) */
extern void ProgressInit(void);

/* Slots: for the launcher, the job worker and mlops.cancel_job */
extern bool ProgressAvailable(void);
extern int	ProgressSlotCount(void);
extern void ProgressSlotGet(int slot, ProgressSlotInfo *info);
extern int	ProgressClaimSlot(int64 job_id);
extern void ProgressReleaseSlot(int slot, int64 job_id);
extern bool ProgressAttach(int slot, int64 job_id);
extern bool ProgressRequestCancel(int64 job_id);
extern bool ProgressCancelRequested(void);

/* The launcher: recovery after a server start, wake-ups */
extern bool ProgressRecovered(void);
extern void ProgressSetRecovered(void);
extern void ProgressSetLauncherPid(int pid);
extern void ProgressWakeLauncher(bool full_pass);
extern bool ProgressTakeFullPassRequest(void);

#endif							/* MLOPS_PROGRESS_H */
