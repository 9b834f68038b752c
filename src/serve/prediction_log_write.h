/*-------------------------------------------------------------------------
 *
 * prediction_log_write.h
 *	  Writing rows of the prediction log to mlops.predictions: heap
 *	  multi-inserts with index maintenance, no SQL per batch.
 *
 *		LogWriter  *w = LogWriterBegin();
 *		while (... rows taken out of the queue ...)
 *			LogWriterInsert(w, rows, n);
 *		LogWriterEnd(w);
 *
 * Runs in the background worker's transaction, inside SPI (the project
 * names are read with one query per batch).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PREDICTION_LOG_WRITE_H
#define MLOPS_PREDICTION_LOG_WRITE_H

#include "postgres.h"

#include "serve/serving_stats.h"
#include "utils/timestamp.h"

/* the most rows one LogWriterInsert takes */
#define LOG_WRITE_BATCH 1000

/* one logged row taken out of the queue; Datums in the caller's memory */
typedef struct LoggedRow
{
	int64		project_id;
	int64		model_id;
	ServingVariant variant;
	TimestampTz predicted_at;
	double		prediction;
	Datum		key;			/* text, or 0 for NULL */
	Datum		proba;			/* float8[], or 0 for NULL */
	Datum		features;		/* jsonb, or 0 for NULL */
} LoggedRow;

typedef struct LogWriter LogWriter;

extern LogWriter *LogWriterBegin(void);
extern void LogWriterInsert(LogWriter *w, const LoggedRow *rows, int n);
extern void LogWriterEnd(LogWriter *w);

#endif							/* MLOPS_PREDICTION_LOG_WRITE_H */
