/*-------------------------------------------------------------------------
 *
 * train_stream.h
 *	  Training least squares and ridge from blocks of rows, without holding
 *	  them (see train_stream.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_TRAIN_STREAM_H
#define MLOPS_TRAIN_STREAM_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "train/train.h"

/* what a training run from blocks of rows gives mlops.train to register */
typedef struct TrainStreamResult
{
	Dataset    *ds;				/* the columns, nrows and null_targets; no
								 * rows */
	int			ntrain;
	int			ntest;
	uint64		fingerprint;	/* DatasetFingerprint of every row */
	HyperParams *hp;
	Featurizer *fz;
	bytea	   *blob;			/* the serialized model */
	double	   *importance;
	StringInfoData info;		/* the fit's JSON members */
	double		fit_seconds;
	StringInfoData metrics;		/* the held-out metrics' JSON members, or
								 * empty */
	Jsonb	   *profile;
	struct CurveSet *curves;	/* classification: the held-out curves, or
								 * NULL */
} TrainStreamResult;

extern void TrainStreamInit(void);
extern bool TrainStreamApplies(const TrainRequest *req, const TrainPlan *plan);
extern void TrainStreamRun(const TrainRequest *req, const TrainPlan *plan,
						   const DatasetSpec *spec, int64 compare_id,
						   TrainStreamResult *out, TrainResult *res);

#endif							/* MLOPS_TRAIN_STREAM_H */
