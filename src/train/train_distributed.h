/*-------------------------------------------------------------------------
 *
 * train_distributed.h
 *	  mlops.train on a distributed Citus table through pushed-down partial
 *	  aggregates (see train_distributed.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_TRAIN_DISTRIBUTED_H
#define MLOPS_TRAIN_DISTRIBUTED_H

#include "postgres.h"

#include "train/train.h"
#include "train/train_stream.h"

extern bool TrainDistributedApplies(const TrainRequest *req, const TrainPlan *plan);
extern void TrainDistributedRun(const TrainRequest *req, const TrainPlan *plan, int64 compare_id,
								TrainStreamResult *out, TrainResult *res);

#endif							/* MLOPS_TRAIN_DISTRIBUTED_H */
