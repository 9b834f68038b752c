/*-------------------------------------------------------------------------
 *
 * serving_stats.h
 *	  Serving statistics in shared memory: calls, errors, dropped log rows
 *	  and a latency histogram per database, model and variant.
 *
 * How a serving function reports a call:
 *
 *		ServingCallBegin();
 *		... look the model up ...
 *		ServingCallModel(m->id, m->project_id, SERVING_CHAMPION);
 *		... score the row (an error here is counted as an error) ...
 *		ServingCallEnd();
 *
 * Begin starts the clock; Model names what the call is counted against;
 * End adds the latency to the backend's slot in shared memory, where the
 * views see it at once.  A call begun and not ended when its
 * (sub)transaction aborts counts as an error.  Each function costs
 * nothing when mlops.track_serving is off or mlops is not preloaded.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_SERVING_STATS_H
#define MLOPS_SERVING_STATS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "portability/instr_time.h"

/* which role a model played in a call */
typedef enum ServingVariant
{
	SERVING_CHAMPION,			/* the deployed model */
	SERVING_CHALLENGER,			/* a canary's model, for its share of keys */
	SERVING_SHADOW				/* scored beside the champion, only logged */
} ServingVariant;

#define SERVING_VARIANTS 3

/* GUC */
extern bool mlops_track_serving;

extern void ServingStatsInit(void);
extern bool ServingStatsAvailable(void);
extern const char *ServingVariantName(ServingVariant variant);
extern void ServingCallBegin(void);
extern void ServingCallModel(int64 model_id, int64 project_id, ServingVariant variant);
extern void ServingCallEnd(void);
extern void ServingCountBatchRow(int64 model_id, int64 project_id, ServingVariant variant,
								 double us, instr_time end);
extern TimestampTz ServingCallTimestamp(void);
extern void ServingCountDropped(int64 model_id, int64 project_id, ServingVariant variant);

#endif							/* MLOPS_SERVING_STATS_H */
