/*-------------------------------------------------------------------------
 *
 * dataset.h
 *	  Reading a relation into memory for training and evaluation.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DATASET_H
#define MLOPS_DATASET_H

#include "postgres.h"

#include "utils/array.h"

#include "mlops.h"

/* how a target column is read */
typedef enum TargetMode
{
	TARGET_REGRESSION,			/* numeric value */
	TARGET_COLLECT_LABELS,		/* classification: discover the label set */
	TARGET_KNOWN_LABELS,		/* classification: map onto given labels */
	TARGET_INFER				/* collect labels while it looks like classes */
} TargetMode;

typedef struct Dataset
{
	char	   *relname;		/* quoted, schema-qualified */
	int			nrows;
	int			ncolumns;		/* feature source columns */
	char	  **names;			/* their names */
	Oid		   *types;			/* their types (base types of domains) */
	double	  **values;			/* per column, nrows raw values; NaN = NULL */
	char	   *target_name;
	Oid			target_type;
	double	   *target;			/* value, or class index in label order */
	int			nclasses;		/* 0 for regression */
	char	  **labels;			/* class labels as text, in label order */
	bool		labels_numeric; /* labels are numbers or booleans */
	int64		null_targets;	/* rows skipped for a NULL target */
} Dataset;

extern Oid	DatasetResolveRelation(const char *relation, char **qualified);
extern char **DatasetFeatureColumns(Oid relid, const char *target,
									ArrayType *features, ArrayType *exclude,
									int *ncolumns);
extern bool DatasetTargetIsCategorical(Oid typid);
extern Dataset *DatasetRead(Oid relid, const char *relname, const char *target,
							char **columns, int ncolumns, const char *order_by,
							TargetMode mode, char **known_labels, int nknown);
extern bool DatasetIsNumericType(Oid typid);
extern double DatasetDatumToDouble(Datum d, Oid typid);
extern bool DatasetLabelsAreNumeric(Oid typid);

#endif							/* MLOPS_DATASET_H */
