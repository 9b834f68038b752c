/*-------------------------------------------------------------------------
 *
 * train_partial_internal.h
 *	  What train_partial.c (the aggregate's rows and merge) and
 *	  train_partial_format.c (its serialized form) share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_TRAIN_PARTIAL_INTERNAL_H
#define MLOPS_TRAIN_PARTIAL_INTERNAL_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/expandeddatum.h"

#include "train/train_partial.h"

/* train_partial.c: building a state */
extern TrainPartial *TrainPartialCreate(MemoryContext parent, char pass, int ninputs, int nout,
										int sample_size);
extern int	TrainPartialCatAdd(TrainPartial *st, int k, const char *text, int64 count,
							   double ysum);
extern void TrainPartialNewtonSize(TrainPartial *st, int m, bool derivatives);
extern void TrainPartialLabelAdd(TrainPartial *st, const char *text, int64 count, int64 train);
extern void TrainPartialSampleAdd(TrainPartial *st, int64 key, const double *row);
extern void TrainPartialFlush(TrainPartial *st);

/* train_partial_format.c: the serialized form */
extern const ExpandedObjectMethods train_partial_methods;
extern void TrainPartialCorrupted(const char *what) pg_attribute_noreturn();
extern void TrainPartialSerialize(TrainPartial *st, StringInfo buf);
extern Size TrainPartialGetFlatSize(ExpandedObjectHeader *eohptr);
extern void TrainPartialFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size);
extern TrainPartial *TrainPartialFromDatum(Datum d, MemoryContext parent);

#endif							/* MLOPS_TRAIN_PARTIAL_INTERNAL_H */
