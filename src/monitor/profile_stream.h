/*-------------------------------------------------------------------------
 *
 * profile_stream.h
 *	  The reference profile of a model built from blocks of rows (numeric
 *	  inputs and predictions); see profile_stream.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PROFILE_STREAM_H
#define MLOPS_PROFILE_STREAM_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "train/dataset.h"

typedef struct ProfileStream ProfileStream;

extern ProfileStream *ProfileStreamBegin(const Dataset *ds, int seed, int sort_kb);
extern void ProfileStreamAdd(ProfileStream *ps, const Dataset *block, const int *rows, int n);
extern void ProfileStreamSortDone(ProfileStream *ps);
extern void ProfileStreamSample(ProfileStream *ps, const Dataset *block, const int *rows, int n);
extern void ProfileStreamPredictionsBegin(ProfileStream *ps, int64 npred);
extern void ProfileStreamPredictions(ProfileStream *ps, const double *pred, int n);
extern Jsonb *ProfileStreamEnd(ProfileStream *ps);

#endif							/* MLOPS_PROFILE_STREAM_H */
