/*-------------------------------------------------------------------------
 *
 * dataset.h
 *	  Reading a relation into memory for training, evaluation and drift.
 *
 * Implemented in dataset_columns.c (the relation and its feature columns),
 * dataset_values.c (column types and values as model inputs),
 * dataset_read.c (the row reader) and dataset_fingerprint.c (the data
 * fingerprint of a trained model).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DATASET_H
#define MLOPS_DATASET_H

#include "postgres.h"

#include "utils/array.h"

#include "mlops.h"

/* how a source column becomes model inputs */
typedef enum SourceKind
{
	SOURCE_NUMERIC,				/* integers, floats, numeric, boolean: one input */
	SOURCE_CATEGORICAL,			/* text, varchar, char, name, enum: one input */
	SOURCE_DATETIME,			/* timestamp, timestamptz: DATETIME_PARTS inputs;
								 * date: DATE_PARTS (no hour) */
	SOURCE_ARRAY				/* fixed-length float4[]/float8[]: one input per element */
} SourceKind;

#define DATETIME_PARTS 6		/* epoch, year, month, day, dow, hour */
#define DATE_PARTS 5			/* the same without the hour; models trained
								 * before 0.2.0 have six for a date too */
extern const char *const datetime_part_names[DATETIME_PARTS];

/* how a target column is read */
typedef enum TargetMode
{
	TARGET_NONE,				/* no target (drift) */
	TARGET_REGRESSION,			/* numeric value */
	TARGET_COLLECT_LABELS,		/* classification: discover the label set */
	TARGET_KNOWN_LABELS,		/* classification: map onto given labels */
	TARGET_INFER				/* collect labels while it looks like classes */
} TargetMode;

/* a source column of the relation */
typedef struct DatasetColumn
{
	char	   *name;
	Oid			typid;			/* base type */
	SourceKind	kind;
	int			first_input;	/* its inputs are first_input .. + ninputs - 1 */
	int			ninputs;
} DatasetColumn;

/*
 * A model input: a numeric value, or a category code.  Category codes
 * number a column's distinct non-NULL values in first-seen order; NaN marks
 * NULL in both kinds.
 */
typedef struct DatasetInput
{
	char	   *name;			/* "age", "created_at.year", "embedding[3]" */
	int			column;			/* its source column */
	bool		categorical;
	double	   *values;			/* nrows */
	int			ncategories;
	char	  **categories;		/* code -> text */
} DatasetInput;

typedef struct Dataset
{
	char	   *relname;		/* quoted, schema-qualified */
	int			nrows;
	int			ncolumns;
	DatasetColumn *columns;
	int			ninputs;
	DatasetInput *inputs;
	char	   *target_name;
	Oid			target_type;
	double	   *target;			/* value, or class index in label order */
	int			nclasses;		/* 0 for regression */
	char	  **labels;			/* class labels as text, in label order */
	bool		labels_numeric; /* labels are numbers or booleans */
	int64		null_targets;	/* rows skipped for a NULL target */
	double		bytes;			/* memory of the arrays above (at their
								 * capacity) and of the category texts */
} Dataset;

/* the source columns to read, with the array lengths they must have */
typedef struct DatasetSpec
{
	int			ncolumns;
	char	  **names;
	int		   *array_lengths;	/* per column: the inputs of an array (0 = learn
								 * it from the data) or of a date (0 = by its
								 * type) */
} DatasetSpec;

extern Oid	DatasetResolveRelation(const char *relation, char **qualified);
extern char **DatasetTextArray(ArrayType *arr, const char *what, int *n);
extern char **DatasetFeatureColumns(Oid relid, const char *target,
									ArrayType *features, ArrayType *exclude,
									int *ncolumns);
extern bool DatasetTargetIsCategorical(Oid typid);
/* a block of rows of DatasetScan: ds->nrows rows, the first numbered first */
typedef void (*DatasetBlockFn) (Dataset *ds, int64 first, void *arg);

extern Dataset *DatasetScan(Oid relid, const char *relname, const char *target,
							const DatasetSpec *spec, const char *order_by,
							TargetMode mode, char **known_labels, int nknown,
							int block_rows, DatasetBlockFn fn, void *arg);
extern Dataset *DatasetRead(Oid relid, const char *relname, const char *target,
							const DatasetSpec *spec, const char *order_by,
							TargetMode mode, char **known_labels, int nknown);
extern void DatasetKeepInputRows(Dataset *ds, int input, const int *rows, int n);
extern void DatasetKeepRows(Dataset *ds, const int *rows, int n, int first_input);
extern void DatasetNoticeIdColumns(const Dataset *ds);
extern bool DatasetChecksIdColumn(const DatasetColumn *c, int64 nrows);
extern void DatasetNoticeIdColumn(const char *name);
extern bool DatasetIsNumericType(Oid typid);
extern bool DatasetSourceKindOf(Oid typid, SourceKind *kind);
extern SourceKind DatasetSourceKind(Oid typid, const char *column);
extern double DatasetDatumNumber(Datum d, Oid typid);
extern int	DatasetDatetimeInputs(Oid typid);
extern int	DatasetArrayColumnLength(const char *relname, const char *column, int given);
extern void DatasetDatetimeParts(Datum d, Oid typid, const char *column, int nparts,
								 double *parts);
extern char *DatasetCategoryText(Datum d, Oid typid);
extern void DatasetArrayValues(Datum d, const char *column, int expected, double *out);
extern bool DatasetLabelsAreNumeric(Oid typid);
extern uint64 DatasetFingerprint(const Dataset *ds);
extern double *DatasetTargets(const Dataset *ds, const int *rows, int n);

#endif							/* MLOPS_DATASET_H */
