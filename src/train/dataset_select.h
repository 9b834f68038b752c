/*-------------------------------------------------------------------------
 *
 * dataset_select.h
 *	  Reading the columns of several consumers (two models, a model and
 *	  sensitive attributes) in one scan, and giving each its columns in
 *	  its own order.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DATASET_SELECT_H
#define MLOPS_DATASET_SELECT_H

#include "postgres.h"

#include "train/dataset.h"

extern DatasetSpec *DatasetSpecUnion(const DatasetSpec *a, const DatasetSpec *b);
extern DatasetSpec *DatasetSpecOfNames(char **names, int n);
extern Dataset *DatasetSelect(const Dataset *ds, const DatasetSpec *spec);
extern int	DatasetColumnIndex(const Dataset *ds, const char *name);

#endif							/* MLOPS_DATASET_SELECT_H */
