/*-------------------------------------------------------------------------
 *
 * profile.h
 *	  Reference profiles: the statistics of a model's training inputs and
 *	  of its held-out predictions, stored with the model for drift checks.
 *
 * A profile is built once, when the model is trained, and frozen in
 * mlops.models.profile (jsonb).  It holds everything mlops.drift needs to
 * read a relation again and compare it with the training data, so drift
 * never consults the featurizer:
 *
 *	- the source columns (name, kind, type name, array length), in the
 *	  order the model reads them;
 *	- per model input (a numeric column, a category column, each part of a
 *	  date, each element of an array), on the training rows: rows, non-NULL
 *	  count, NULL count and fraction; for numbers the mean, population
 *	  standard deviation, minimum, maximum, the PROFILE_BINS - 1 interior
 *	  edges of PROFILE_BINS equal-frequency bins (numpy.quantile, linear),
 *	  the histogram counts in those bins and a sorted, seeded random sample
 *	  of at most mlops.drift_sample_size values (all of them when there are
 *	  no more; fewer when the model has so many inputs that all samples
 *	  would hold more than PROFILE_MAX_SAMPLE_VALUES), stored in binary;
 *	  for categories the count of every category, most frequent first;
 *	- the same statistics of the model's predictions on the held-out rows
 *	  (the regression value, or the predicted class as a category), or
 *	  null when nothing was held out.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PROFILE_H
#define MLOPS_PROFILE_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "train/dataset.h"

/*
 * profile format version, stored as "version": 2 stores the value samples
 * in binary (a base64 string), 1 (before 0.2.0, still read) as arrays of
 * numbers
 */
#define PROFILE_VERSION		2
#define PROFILE_VERSION_NUMBER_SAMPLES 1

/*
 * the value samples of all numeric inputs and of the predictions together
 * hold at most this many values (2 MB of doubles, which the registry
 * stores and compresses with every model): a model with more than
 * PROFILE_MAX_SAMPLE_VALUES / mlops.drift_sample_size - 1 inputs (24 at
 * the default) samples fewer values of each
 */
#define PROFILE_MAX_SAMPLE_VALUES	250000

/* bytes a sampled value takes while a profile is built (see ProfileBuildMemory) */
#define PROFILE_SAMPLE_VALUE_BYTES	48

/* equal-frequency bins of a numeric profile (psi, jensen_shannon) */
#define PROFILE_BINS		10

/* name of the pseudo-feature that profiles the model's predictions */
#define PROFILE_PREDICTION	"prediction"

/* a source column the profiled inputs come from */
typedef struct ProfileColumn
{
	char	   *name;
	SourceKind	kind;
	char	   *type;			/* type name at training, for messages */
	int			array_length;	/* SOURCE_ARRAY: elements; else 0 */
} ProfileColumn;

/*
 * The reference statistics of one input, or of the predictions.  Numbers
 * that have no value (statistics of an input that was always NULL) are
 * NaN.
 */
typedef struct ProfileFeature
{
	char	   *name;
	int			column;			/* source column; -1 for the predictions */
	bool		categorical;
	int64		rows;			/* reference rows */
	int64		count;			/* non-NULL values among them */
	int64		nulls;
	/* numeric */
	double		mean;
	double		std;			/* population standard deviation */
	double		min;
	double		max;
	double	   *edges;			/* PROFILE_BINS - 1, or NULL when count = 0 */
	double	   *histogram;		/* PROFILE_BINS counts, or NULL */
	int			nsample;
	double	   *sample;			/* sorted ascending */
	/* categorical */
	int			ncategories;
	char	  **categories;
	double	   *counts;			/* per category, each > 0 */
} ProfileFeature;

typedef struct Profile
{
	int64		rows;			/* training rows */
	int			ncolumns;
	ProfileColumn *columns;
	int			nfeatures;
	ProfileFeature *features;	/* one per model input, in input order */
	ProfileFeature *prediction; /* NULL when no rows were held out */
} Profile;

/*
 * Build the reference profile of a model: ds is the training data set,
 * rows (nrows of them) the indices of the training rows, seed the seed of
 * the training run (it drives the value samples).  pred holds the model's
 * outputs on the npred held-out rows, row-major with nout values per row:
 * the regression value when nout == 1 and labels is NULL, otherwise the
 * class probabilities in label order, labels[k] being the text of class k.
 * npred == 0 (nothing held out) gives a profile without predictions.
 */
/* mlops.drift_sample_size: reference values sampled per numeric input */
extern int	mlops_drift_sample_size;

extern void ProfileInit(void);
extern Jsonb *ProfileBuild(const Dataset *ds, const int *rows, int nrows, int seed,
						   const double *pred, int npred, int nout, char **labels);

/*
 * The same in two steps: the inputs, while the training rows are there,
 * then the predictions, once the model has made them.
 */
typedef struct ProfileBuilder ProfileBuilder;
extern ProfileBuilder *ProfileBegin(const Dataset *ds, const int *rows, int nrows, int seed);
extern Jsonb *ProfileEnd(ProfileBuilder *b, const double *pred, int npred, int nout,
						 char **labels);

/* an estimate of the bytes ProfileBuild takes, for mlops.max_train_memory */
extern double ProfileBuildMemory(const Dataset *ds, int nrows, int npred);

/*
 * Parse the stored profile of a model, checked against the model; a
 * damaged one is an ERRCODE_DATA_CORRUPTED error.
 */
struct MlopsModel;
extern Profile *ProfileFromJson(Jsonb *jb, const struct MlopsModel *m);

/*
 * The source columns to read from a relation to compare it with a profile.
 */
extern DatasetSpec *ProfileSpec(const Profile *profile);

/*
 * Name of a source kind as profiles store it ("numeric", "categorical",
 * "datetime", "array").
 */
extern const char *ProfileKindName(SourceKind kind);
extern bool ProfileKindFromName(const char *name, SourceKind *kind);

#endif							/* MLOPS_PROFILE_H */
