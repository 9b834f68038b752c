/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The background worker: a launcher ("mlops scheduler") that runs queued
 *	  jobs and due schedules, each job in its own dynamic background worker
 *	  ("mlops job") as the role that submitted it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_WORKER_H
#define MLOPS_WORKER_H

#include "postgres.h"

/* Settings (GUCs) */
extern char *mlops_database;
extern int	mlops_scheduler_naptime;
extern int	mlops_max_jobs;

extern void WorkerInit(void);
extern bool WorkerServesDatabase(const char *dbname);
extern ErrorData *WorkerTryIsolated(void (*fn) (void *arg), void *arg);
extern void WorkerRunIsolated(void (*fn) (void *arg), void *arg, const char *what);

/* entry points of the background workers, named in BackgroundWorker */
extern PGDLLEXPORT void MlopsLauncherMain(Datum main_arg);
extern PGDLLEXPORT void MlopsJobWorkerMain(Datum main_arg);

#endif							/* MLOPS_WORKER_H */
