/*-------------------------------------------------------------------------
 *
 * drift_partial_internal.h
 *	  The state of the partial drift profile aggregate, which
 *	  drift_partial.c builds and merges and drift_partial_format.c
 *	  serializes; not for other modules, which use drift_partial.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DRIFT_PARTIAL_INTERNAL_H
#define MLOPS_DRIFT_PARTIAL_INTERNAL_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "utils/expandeddatum.h"

#include "monitor/profile.h"
#include "strmap.h"

/* version of the serialized form */
#define PARTIAL_VERSION			1

/* rows the model scores at a time */
#define PARTIAL_PREDICT_BATCH	1024

/* largest sample_size (mlops.drift_sample_size's maximum) */
#define PARTIAL_MAX_SAMPLE		1000000

/* a sampled value and its row's key */
typedef struct PartialValue
{
	int64		key;
	double		value;
} PartialValue;

/* the summary of one input (or of the predictions) while it grows */
typedef struct PartialInput
{
	bool		categorical;
	int64		nulls;
	/* numeric */
	int64		outside;
	int64		histogram[PROFILE_BINS];
	int			nsample;
	PartialValue *sample;		/* a max-heap by (key, value) */
	/* categorical */
	int			ncategories;
	int			capacity;
	char	  **categories;
	int64	   *counts;
	StrMap	   *map;			/* text -> index */
} PartialInput;

/* what reading rows needs, set up at the first row */
typedef struct PartialReader
{
	const Profile *profile;
	int			nsources;
	Oid		   *atttype;		/* per source column (the row's field of the
								 * same position): its base type */
	Oid			rowtype;
	int32		rowtypmod;
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;
	double	   *raw;			/* the model's raw inputs */
	int			npending;		/* rows whose prediction waits for a batch */
	double	   *x;				/* their features, PARTIAL_PREDICT_BATCH rows */
	int64	   *keys;			/* their keys */
	double	   *out;			/* the model's outputs on them */
	char	  **texts;			/* per source column: category text or NULL */
} PartialReader;

/* the transition state: an expanded bytea */
typedef struct DriftPartial
{
	ExpandedObjectHeader hdr;
	int64		model_id;
	int			sample_size;
	int			ninputs;		/* the model's inputs, then the predictions */
	int64		rows;
	PartialInput *inputs;
	PartialReader *reader;		/* NULL until a row is added */
	StringInfoData flat;		/* serialized by get_flat_size */
} DriftPartial;

/*
 * (key, value) order of sampled values.
 */
static inline bool
PartialLess(const PartialValue *a, const PartialValue *b)
{
	return a->key < b->key || (a->key == b->key && a->value < b->value);
}

/* drift_partial.c */
extern DriftPartial *PartialCreate(MemoryContext parent, int64 model_id, int sample_size,
								   int ninputs);
extern void PartialCategoryAdd(DriftPartial *st, PartialInput *in, const char *text, int64 count);
extern void PartialFlush(DriftPartial *st);

/* drift_partial_format.c */
extern const ExpandedObjectMethods partial_methods;
extern void PartialCorrupted(const char *what) pg_attribute_noreturn();
extern DriftPartial *PartialDeserialize(bytea *flat, MemoryContext parent);
extern Size PartialGetFlatSize(ExpandedObjectHeader *eohptr);
extern void PartialFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size);
extern DriftPartial *PartialFromDatum(Datum d, MemoryContext parent);

#endif							/* MLOPS_DRIFT_PARTIAL_INTERNAL_H */
