/*-------------------------------------------------------------------------
 *
 * prediction_log_partitions.h
 *	  The day partitions of mlops.predictions: made ahead by the worker,
 *	  dropped once retention has emptied them.
 *
 * Both run in the background worker's transaction, inside SPI, as the
 * extension owner; neither fails the pass (a partition that cannot be made
 * or dropped now is reported once and tried again a minute later).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PREDICTION_LOG_PARTITIONS_H
#define MLOPS_PREDICTION_LOG_PARTITIONS_H

extern void LogPartitionsMake(void);
extern void LogPartitionsDropEmpty(void);

#endif							/* MLOPS_PREDICTION_LOG_PARTITIONS_H */
