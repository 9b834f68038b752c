/*-------------------------------------------------------------------------
 *
 * performance.h
 *	  Live performance: mlops.monitor scores labeled rows per time window
 *	  and records them in mlops.performance_history.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PERFORMANCE_H
#define MLOPS_PERFORMANCE_H

#include "postgres.h"

/* the latest recorded window of a model */
typedef struct PerformanceWindow
{
	int64		id;				/* its mlops.performance_history row */
	char	   *metric;			/* the primary metric */
	double		value;			/* NaN: the window has no such metric */
	double		held_out;		/* NaN: the model has none */
	int			degraded;		/* 1, 0, or -1 when not known */
} PerformanceWindow;

extern bool PerformanceLatestWindow(const char *project, int64 model_id, PerformanceWindow *out);
extern double PerformanceThreshold(const char *metric, double held_out, double max_degradation);

#endif							/* MLOPS_PERFORMANCE_H */
