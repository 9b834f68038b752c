/*-------------------------------------------------------------------------
 *
 * batch_scan.h
 *	  Batch predict: the MlopsBatchPredict custom scan, which scores the
 *	  planned form of predict many rows at a time; mlops.batch_predict.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_BATCH_SCAN_H
#define MLOPS_BATCH_SCAN_H

#include "postgres.h"

/* mlops.batch_predict: put the batch node above scans that can use it */
extern bool mlops_batch_predict;

extern void BatchScanInit(void);

#endif							/* MLOPS_BATCH_SCAN_H */
