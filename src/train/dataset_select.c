/*-------------------------------------------------------------------------
 *
 * dataset_select.c
 *	  Reading the columns of several consumers in one scan.
 *
 * A data set's columns are positional: a model's featurizer reads source
 * column j from column j.  Functions that score two models on the same
 * rows (mlops.compare), or a model and other columns (mlops.fairness), read
 * the union of their columns once, so that every consumer sees the same
 * rows in the same order, then take a shallow view of the columns each
 * needs, in its order.  The views share the values of the union.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "train/dataset_select.h"

/*
 * The columns of a, then those of b that a does not have.
 */
DatasetSpec *
DatasetSpecUnion(const DatasetSpec *a, const DatasetSpec *b)
{
	DatasetSpec *u = palloc(sizeof(DatasetSpec));
	int			n = a->ncolumns;

	u->names = palloc(sizeof(char *) * Max(1, a->ncolumns + b->ncolumns));
	u->array_lengths = palloc(sizeof(int) * Max(1, a->ncolumns + b->ncolumns));
	memcpy(u->names, a->names, sizeof(char *) * a->ncolumns);
	memcpy(u->array_lengths, a->array_lengths, sizeof(int) * a->ncolumns);
	for (int j = 0; j < b->ncolumns; j++)
	{
		int			k;

		for (k = 0; k < a->ncolumns; k++)
			if (strcmp(a->names[k], b->names[j]) == 0)
				break;
		if (k < a->ncolumns)
			continue;
		u->names[n] = b->names[j];
		u->array_lengths[n++] = b->array_lengths[j];
	}
	u->ncolumns = n;
	return u;
}

/*
 * A spec of plain columns by name (their shape learned from the data).
 */
DatasetSpec *
DatasetSpecOfNames(char **names, int n)
{
	DatasetSpec *spec = palloc(sizeof(DatasetSpec));

	spec->ncolumns = n;
	spec->names = names;
	spec->array_lengths = palloc0(sizeof(int) * Max(1, n));
	return spec;
}

/*
 * The index of a data set's column, or -1.
 */
int
DatasetColumnIndex(const Dataset *ds, const char *name)
{
	for (int j = 0; j < ds->ncolumns; j++)
		if (strcmp(ds->columns[j].name, name) == 0)
			return j;
	return -1;
}

/*
 * A view of the columns of spec (all in ds) in spec's order, sharing ds's
 * rows, target and input values.
 */
Dataset *
DatasetSelect(const Dataset *ds, const DatasetSpec *spec)
{
	Dataset    *v = palloc(sizeof(Dataset));
	int			ninputs = 0;

	*v = *ds;
	v->ncolumns = spec->ncolumns;
	v->columns = palloc(sizeof(DatasetColumn) * Max(1, spec->ncolumns));
	v->inputs = palloc(sizeof(DatasetInput) * Max(1, ds->ninputs));
	for (int j = 0; j < spec->ncolumns; j++)
	{
		int			c = DatasetColumnIndex(ds, spec->names[j]);
		const DatasetColumn *col;

		if (c < 0)
			elog(ERROR, "column \"%s\" was not read", spec->names[j]);
		col = &ds->columns[c];
		v->columns[j] = *col;
		v->columns[j].first_input = ninputs;
		for (int k = 0; k < col->ninputs; k++)
		{
			v->inputs[ninputs] = ds->inputs[col->first_input + k];
			v->inputs[ninputs++].column = j;
		}
	}
	v->ninputs = ninputs;
	return v;
}
