/*-------------------------------------------------------------------------
 *
 * mlops.c
 *	  Library entry point (_PG_init calls each module's Init), the training
 *	  resource settings and the names of tasks and algorithms.
 *
 * Nothing here calls into libxgboost or OpenBLAS: the postmaster forks
 * every backend, and threads started before the fork would not survive it.
 * Thread counts are applied just before each training run instead
 * (MlopsSetLibraryThreads).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>
#include <unistd.h>

#include <cblas.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "mlops.h"
#include "monitor/profile.h"
#include "ops/progress.h"
#include "ops/worker.h"
#include "serve/batch_scan.h"
#include "serve/forest.h"
#include "serve/model_cache.h"
#include "serve/prediction_log.h"
#include "serve/serving_stats.h"
#include "train/train_stream.h"

PG_MODULE_MAGIC;

/* bounds of the training resource settings */
#define THREADS_DEFAULT					1
#define THREADS_MAX						256
#define MAX_TRAIN_MEMORY_DEFAULT_KB		(1024 * 1024)
#define MAX_TRAIN_MEMORY_MIN_KB			1024

int			mlops_threads = THREADS_DEFAULT;
int			mlops_max_train_memory_kb = MAX_TRAIN_MEMORY_DEFAULT_KB;

static const char *const task_names[] = {
	[TASK_CLASSIFICATION] = "classification",
	[TASK_REGRESSION] = "regression",
};

static const char *const algorithm_names[] = {
	[ALG_XGBOOST] = "xgboost",
	[ALG_RANDOM_FOREST] = "random_forest",
	[ALG_LINEAR] = "linear",
	[ALG_RIDGE] = "ridge",
	[ALG_LASSO] = "lasso",
	[ALG_ELASTIC_NET] = "elastic_net",
	[ALG_LOGISTIC] = "logistic",
};

void		_PG_init(void);

/*
 * Check hook of mlops.threads: no more threads than the machine has online
 * CPUs, so that no setting (even a superuser's) makes one backend start
 * hundreds of threads.
 */
static bool
CheckThreads(int *newval, void **extra, GucSource source)
{
	long		cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus > 0 && *newval > cpus)
	{
		GUC_check_errdetail("This machine has %ld online CPUs.", cpus);
		return false;
	}
	return true;
}

/*
 * Define the training resource settings: mlops.threads and
 * mlops.max_train_memory, read by MlopsSetLibraryThreads and
 * MlopsCheckTrainMemory below.
 */
static void
MlopsInit(void)
{
	DefineCustomIntVariable("mlops.threads",
							"Sets the number of threads libxgboost and OpenBLAS may use in one backend.",
							"Only a superuser can change it; at most the number of online CPUs.",
							&mlops_threads,
							THREADS_DEFAULT, 1, THREADS_MAX,
							PGC_SUSET, 0,
							CheckThreads, NULL, NULL);

	DefineCustomIntVariable("mlops.max_train_memory",
							"Sets the largest amount of memory training may take in one backend.",
							"It counts the data read, the feature matrix and the algorithm's copies of it; "
							"training that needs more is refused with an error.  Only a superuser can change it.",
							&mlops_max_train_memory_kb,
							MAX_TRAIN_MEMORY_DEFAULT_KB, MAX_TRAIN_MEMORY_MIN_KB, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}

/*
 * Load the library: each module defines its own settings and, when mlops
 * is preloaded, its shared memory and background workers.
 */
void
_PG_init(void)
{
	MlopsInit();
	ModelCacheInit();
	ForestInit();
	ProfileInit();
	ProgressInit();
	WorkerInit();
	ServingStatsInit();
	PredictionLogInit();
	BatchScanInit();
	TrainStreamInit();

	MarkGUCPrefixReserved("mlops");
}

/*
 * Refuse a training step that would bring the memory training holds to
 * "bytes", when that is more than mlops.max_train_memory.  The detail (a
 * format and its arguments) says what the amount is made of.
 */
void
MlopsCheckTrainMemory(double bytes, const char *detail_fmt,...)
{
	StringInfoData detail;

	if (bytes <= (double) mlops_max_train_memory_kb * 1024.0)
		return;
	initStringInfo(&detail);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, detail_fmt);
		needed = appendStringInfoVA(&detail, detail_fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&detail, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%.0f kB of memory needed, more than mlops.max_train_memory (%d kB)",
					ceil(bytes / 1024.0), mlops_max_train_memory_kb),
			 errdetail_internal("%s", detail.data),
			 errhint("Train on a sample of the relation or on fewer features, or raise mlops.max_train_memory.")));
}

/*
 * Apply mlops.threads to OpenBLAS; libxgboost takes it per booster.
 */
void
MlopsSetLibraryThreads(void)
{
	openblas_set_num_threads(mlops_threads);
}

/*
 * Name of a task, as stored in mlops.projects.task.
 */
const char *
MlopsTaskName(MlopsTask task)
{
	return task_names[task];
}

/*
 * Parse a task name; an unknown one is a user error.
 */
MlopsTask
MlopsTaskFromName(const char *name)
{
	for (int i = 0; i < lengthof(task_names); i++)
		if (strcmp(name, task_names[i]) == 0)
			return (MlopsTask) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown task \"%s\"", name),
			 errhint("Valid tasks are \"classification\" and \"regression\".")));
	pg_unreachable();
}

/*
 * Name of an algorithm, as stored in mlops.models.algorithm.
 */
const char *
MlopsAlgorithmName(MlopsAlgorithm alg)
{
	return algorithm_names[alg];
}

/*
 * Parse an algorithm name; an unknown one is a user error listing them all.
 */
MlopsAlgorithm
MlopsAlgorithmFromName(const char *name)
{
	for (int i = 0; i < lengthof(algorithm_names); i++)
		if (strcmp(name, algorithm_names[i]) == 0)
			return (MlopsAlgorithm) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown algorithm \"%s\"", name),
			 errhint("Valid algorithms are xgboost, random_forest, linear, ridge, lasso, elastic_net and logistic.")));
	pg_unreachable();
}
