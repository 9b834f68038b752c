/*-------------------------------------------------------------------------
 *
 * dataset_columns.c
 *	  Which relation and which columns a training run reads.
 *
 * DatasetResolveRelation looks a relation name up as the calling role,
 * checking its SELECT privilege before any lock is taken;
 * DatasetFeatureColumns chooses the feature source columns from the
 * features and exclude arguments; DatasetNoticeIdColumns points out, once
 * the data are read, integer features that look like row ids.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"

#include "train/dataset.h"

/* tables smaller than this are not checked for id-like columns */
#define DATASET_ID_MIN_ROWS 20

/*
 * RangeVarGetRelidExtended callback of DatasetResolveRelation (arg is the
 * name as given, for messages): refuse a
 * relation of the wrong kind, or one the current user may not read, before
 * any lock is taken on it (as PostgreSQL's own commands do), so that a role
 * without rights on a table cannot queue behind or block DDL on it.  SELECT
 * on the table or on any of its columns lets the read go on; the query that
 * reads the data checks the columns it names.
 */
static void
RangeVarCallbackForRead(const RangeVar *relation, Oid relid, Oid oldrelid, void *arg)
{
	char		relkind;

	if (!OidIsValid(relid))
		return;					/* does not exist: RangeVarGetRelidExtended says so */
	relkind = get_rel_relkind(relid);
	if (relkind == '\0')
		return;					/* dropped concurrently: the lookup is retried */
	if (relkind != RELKIND_RELATION && relkind != RELKIND_VIEW &&
		relkind != RELKIND_MATVIEW && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view or materialized view", (const char *) arg)));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(relid, GetUserId(), ACL_SELECT, ACLMASK_ANY) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(relkind), relation->relname);
}

/*
 * Resolve a possibly schema-qualified relation name as regclass input does,
 * checking the current user's SELECT privilege before locking it; returns
 * its OID and the quoted, qualified name for queries.
 */
Oid
DatasetResolveRelation(const char *relation, char **qualified)
{
	List	   *names = stringToQualifiedNameList(relation);
	Oid			relid = RangeVarGetRelidExtended(makeRangeVarFromNameList(names), AccessShareLock,
												 0, RangeVarCallbackForRead, (void *) relation);

	*qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											get_rel_name(relid));
	return relid;
}

/*
 * Is a name in a text[] argument?
 */
static bool
NameInArray(const char *name, char **arr, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(arr[i], name) == 0)
			return true;
	return false;
}

/*
 * Deconstruct a text[] argument into C strings; more than one dimension or
 * a NULL element is an error naming the argument ("what").
 */
char **
DatasetTextArray(ArrayType *arr, const char *what, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", what)));
		out[i] = TextDatumGetCString(elems[i]);
	}
	return out;
}

/*
 * The feature source columns of a training run: the given features, or
 * every column except the target and the excluded ones.  Unknown names and
 * the target used as a feature are errors.
 */
char **
DatasetFeatureColumns(Oid relid, const char *target, ArrayType *features,
					  ArrayType *exclude, int *ncolumns)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	char	  **excl = NULL;
	int			nexcl = 0;
	char	  **cols;
	int			n = 0;
	bool		target_found = false;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), target) == 0)
			target_found = true;
	}
	if (!target_found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("target column \"%s\" does not exist in relation \"%s\"",
						target, RelationGetRelationName(rel))));

	if (exclude != NULL)
		excl = DatasetTextArray(exclude, "exclude", &nexcl);

	if (features != NULL)
	{
		int			nfeat;
		char	  **feat = DatasetTextArray(features, "features", &nfeat);

		cols = palloc(sizeof(char *) * Max(1, nfeat));
		for (int i = 0; i < nfeat; i++)
		{
			if (attnameAttNum(rel, feat[i], false) == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("feature column \"%s\" does not exist in relation \"%s\"",
								feat[i], RelationGetRelationName(rel))));
			if (strcmp(feat[i], target) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("target column \"%s\" cannot also be a feature", target)));
			if (NameInArray(feat[i], cols, n))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("feature column \"%s\" is listed twice", feat[i])));
			if (!NameInArray(feat[i], excl, nexcl))
				cols[n++] = feat[i];
		}
	}
	else
	{
		for (int i = 0; i < nexcl; i++)
			if (attnameAttNum(rel, excl[i], false) == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("excluded column \"%s\" does not exist in relation \"%s\"",
								excl[i], RelationGetRelationName(rel))));
		cols = palloc(sizeof(char *) * Max(1, desc->natts));
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			char	   *name = NameStr(att->attname);

			if (att->attisdropped || strcmp(name, target) == 0 ||
				NameInArray(name, excl, nexcl))
				continue;
			cols[n++] = pstrdup(name);
		}
	}

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no feature columns to train on"),
				 errdetail("Relation \"%s\" has no columns besides the target and the excluded ones.",
						   RelationGetRelationName(rel))));
	if (n > MLOPS_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many feature columns: %d", n),
				 errdetail("At most %d features are supported.", MLOPS_MAX_FEATURES)));

	table_close(rel, AccessShareLock);
	*ncolumns = n;
	return cols;
}

/*
 * Compare two doubles for qsort.
 */
static int
CompareDouble(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * Does DatasetNoticeIdColumns look at column c of a data set of nrows
 * rows?  Integer columns of tables of DATASET_ID_MIN_ROWS rows or more.
 */
bool
DatasetChecksIdColumn(const DatasetColumn *c, int64 nrows)
{
	return nrows >= DATASET_ID_MIN_ROWS &&
		(c->typid == INT2OID || c->typid == INT4OID || c->typid == INT8OID);
}

/*
 * The NOTICE of an integer column whose values are all present and all
 * different.
 */
void
DatasetNoticeIdColumn(const char *name)
{
	ereport(NOTICE,
			(errmsg("column \"%s\" is used as a feature and is unique on every row, like an id", name),
			 errhint("Unless its values carry meaning, leave it out with exclude => '{%s}'.",
					 name)));
}

/*
 * NOTICE for each integer column whose values are all present and all
 * different (an id, most likely): used as a feature it lets a model
 * memorize rows.  Tables of fewer than DATASET_ID_MIN_ROWS rows are not
 * checked.
 */
void
DatasetNoticeIdColumns(const Dataset *ds)
{
	double	   *v;

	if (ds->nrows < DATASET_ID_MIN_ROWS)
		return;
	v = palloc_extended(sizeof(double) * ds->nrows, MCXT_ALLOC_HUGE);
	for (int j = 0; j < ds->ncolumns; j++)
	{
		const DatasetColumn *c = &ds->columns[j];
		bool		unique = true;

		if (!DatasetChecksIdColumn(c, ds->nrows))
			continue;
		memcpy(v, ds->inputs[c->first_input].values, sizeof(double) * ds->nrows);
		qsort(v, ds->nrows, sizeof(double), CompareDouble);
		for (int i = 0; i < ds->nrows && unique; i++)
			unique = !isnan(v[i]) && (i == 0 || v[i] != v[i - 1]);
		if (unique)
			DatasetNoticeIdColumn(c->name);
	}
	pfree(v);
}
