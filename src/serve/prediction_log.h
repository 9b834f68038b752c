/*-------------------------------------------------------------------------
 *
 * prediction_log.h
 *	  The prediction log: predict hands sampled rows to a bounded queue in
 *	  shared memory; the background worker writes them to
 *	  mlops.predictions and prunes them by retention.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PREDICTION_LOG_H
#define MLOPS_PREDICTION_LOG_H

#include "postgres.h"

#include "serve/entity_key.h"
#include "serve/model.h"
#include "serve/serving_stats.h"

/* GUC */
extern int	mlops_log_queue_size;
extern int	mlops_log_writer_delay;

extern void PredictionLogInit(void);
extern void PredictionLogRow(const MlopsModel *m, ServingVariant variant, EntityInput *in,
							 const double *out);
extern void PredictionLogWork(bool prune);
extern bool PredictionLogPending(void);
extern long PredictionLogNextLook(void);
extern const char *PredictionLogKey(const MlopsModel *m);
extern bool PredictionLogNeedsInput(const MlopsModel *m);

#endif							/* MLOPS_PREDICTION_LOG_H */
