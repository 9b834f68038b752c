/*-------------------------------------------------------------------------
 *
 * linear.c
 *	  Linear models: the helpers their solvers share, the memory estimate
 *	  of a fit, prediction and the serialized form.
 *
 * The solvers, by family, each reproducing the scikit-learn 1.2 estimator
 * of the same name so that a model trained here has the coefficients a
 * data scientist gets in Python:
 *
 * - linear_accum.c: least squares and ridge from streamed rows (a
 *	 streaming QR);
 * - linear_lstsq.c: centered views of a matrix, and LinearFitRegression,
 *	 the entry point of elastic net;
 * - linear_enet.c: elastic net (lasso) by coordinate descent;
 * - linear_logistic.c: logistic regression by Newton's method.
 *
 * Passes over the rows work on blocks of rows, so that their working
 * memory stays small whatever the number of rows, and products of blocks
 * are done by BLAS.  Nothing is random: the same data give the same model.
 *
 * Models are serialized into a bytea: the magic "MLLIN", a format version,
 * the kind, a flags byte, four int32 sizes and the coefficients and
 * intercepts as float8, in the byte order of the server.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include <cblas.h>

#include "utils/memutils.h"

#include "train/linear.h"
#include "train/linear_internal.h"


/* serialized form */
#define LINEAR_MAGIC			"MLLIN"
#define LINEAR_MAGIC_LEN		5
#define LINEAR_FORMAT_VERSION	1
#define LINEAR_HEADER_SIZE		24	/* magic, version, kind, flags, 4 int32 */
#define LINEAR_FLAG_CONVERGED	0x01

/* doubles of working memory for one block of rows in a pass (256 kB) */
#define LINEAR_BLOCK_DOUBLES	(1 << 15)
#define LINEAR_MIN_BLOCK_ROWS	64

/*
 * Allocate an array of doubles in CurrentMemoryContext, beyond 1 GB if
 * needed, optionally zeroed.
 */
double *
LinearAlloc(size_t count, bool zero)
{
	if (count > MaxAllocHugeSize / sizeof(double))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("linear model needs too much memory"),
				 errdetail("An array of %zu values was requested.", count)));
	return (double *) MemoryContextAllocExtended(CurrentMemoryContext,
												 Max(count, 1) * sizeof(double),
												 MCXT_ALLOC_HUGE |
												 (zero ? MCXT_ALLOC_ZERO : 0));
}

/*
 * Raise an error for a failed LAPACK call.
 */
void
LinearCheckLapack(const char *routine, lapack_int info)
{
	if (info != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("linear algebra routine failed while fitting a linear model"),
				 errdetail("LAPACK routine %s returned info = %d.",
						   routine, (int) info)));
}

/*
 * Rows per block for a pass whose working set is "width" doubles per row.
 */
int
LinearBlockRows(int n, int width)
{
	int			rows = Max(LINEAR_BLOCK_DOUBLES / Max(width, 1),
						   LINEAR_MIN_BLOCK_ROWS);

	return Min(rows, n);
}

/*
 * Check the sizes and parameters handed over by the caller, which has
 * validated user input already.
 */
void
LinearCheckProblem(int n, int p, const LinearParams *params)
{
	if (n < 1 || p < 1)
		elog(ERROR, "linear model needs at least one row and one feature, got %d x %d",
			 n, p);
	if (n > INT_MAX - p)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("linear model of %d rows and %d features is too large", n, p),
				 errdetail("Rows and features together must stay below %d.", INT_MAX)));
	if (!(params->alpha >= 0) || !isfinite(params->alpha) ||
		!(params->l1_ratio >= 0 && params->l1_ratio <= 1) ||
		!(params->C >= 0) || !isfinite(params->C) ||
		params->max_iter < 1 || !(params->tol > 0) || !isfinite(params->tol))
		elog(ERROR, "invalid linear model parameters: alpha %g, l1_ratio %g, C %g, max_iter %d, tol %g",
			 params->alpha, params->l1_ratio, params->C, params->max_iter,
			 params->tol);
}

/*
 * An estimate of the bytes a fit of n rows and p features allocates besides
 * X and y, for mlops.max_train_memory: the copies of X, the Gram matrix,
 * the blocks of rows, Newton's Hessians and the labels as integers.  Least
 * squares and ridge train from streamed rows (LinearAccumMemory).
 */
double
LinearFitMemory(LinearKind kind, int n, int p, int nclasses, bool fit_intercept)
{
	double		dn = n,
				dp = p;
	double		block = Max(LINEAR_BLOCK_DOUBLES, (double) LINEAR_MIN_BLOCK_ROWS * (dp + 1));
	double		doubles = 0;

	switch (kind)
	{
		case LINEAR_OLS:
		case LINEAR_RIDGE:
			elog(ERROR, "least squares and ridge are not fitted on a matrix");
			break;
		case LINEAR_ELASTIC_NET:
			doubles = 2 * dp + ((n > p) ? dp * dp + 2 * dp + block : dn * dp + 2 * dn);
			break;
		case LINEAR_LOGISTIC:
			{
				double		noutputs = (nclasses == 2) ? 1 : nclasses;
				double		stride = dp + (fit_intercept ? 1 : 0);
				double		m = noutputs * stride;
				double		width = dp + stride + noutputs + 2 + ((nclasses == 2) ? 0 : m);
				double		rows = Min(dn, Max(LINEAR_BLOCK_DOUBLES / width, LINEAR_MIN_BLOCK_ROWS));

				doubles = 2 * m * m + 4 * m + rows * width + dn * sizeof(int) / sizeof(double);
			}
			break;
	}
	return (doubles + dp) * sizeof(double);
}

/*
 * Allocate an empty model in CurrentMemoryContext.
 */
LinearModel *
LinearNewModel(LinearKind kind, int p, int nclasses, int noutputs)
{
	LinearModel *model = palloc0(sizeof(LinearModel));

	model->kind = kind;
	model->nfeatures = p;
	model->nclasses = nclasses;
	model->noutputs = noutputs;
	model->coef = LinearAlloc((size_t) noutputs * p, true);
	model->intercept = LinearAlloc(noutputs, true);
	return model;
}

/*
 * Predict one row: the regression value, or the probability of each class.
 */
void
LinearPredictRow(const LinearModel *model, const double *x, double *out)
{
	int			p = model->nfeatures;
	bool		reference = (model->kind == LINEAR_LOGISTIC &&
							 model->nclasses == 2);
	double	   *z = out + (reference ? 1 : 0);

	for (int k = 0; k < model->noutputs; k++)
		z[k] = model->intercept[k] +
			cblas_ddot(p, model->coef + (size_t) k * p, 1, x, 1);
	if (model->kind == LINEAR_LOGISTIC)
		LinearSoftmax(z, model->noutputs, reference ? out : NULL);
}

/*
 * Serialize a model into a bytea; see the file header for the format.
 */
bytea *
LinearSerialize(const LinearModel *model)
{
	size_t		ncoef = (size_t) model->noutputs * model->nfeatures;
	size_t		len = LINEAR_HEADER_SIZE + sizeof(double) * (ncoef + model->noutputs);
	bytea	   *blob = palloc(VARHDRSZ + len);
	char	   *dst = VARDATA(blob);
	int32		sizes[4];

	SET_VARSIZE(blob, VARHDRSZ + len);
	memcpy(dst, LINEAR_MAGIC, LINEAR_MAGIC_LEN);
	dst[5] = LINEAR_FORMAT_VERSION;
	dst[6] = (char) model->kind;
	dst[7] = model->converged ? LINEAR_FLAG_CONVERGED : 0;
	sizes[0] = model->nfeatures;
	sizes[1] = model->nclasses;
	sizes[2] = model->noutputs;
	sizes[3] = model->iterations;
	memcpy(dst + 8, sizes, sizeof(sizes));
	memcpy(dst + LINEAR_HEADER_SIZE, model->coef, sizeof(double) * ncoef);
	memcpy(dst + LINEAR_HEADER_SIZE + sizeof(double) * ncoef,
		   model->intercept, sizeof(double) * model->noutputs);
	return blob;
}

/*
 * Report a stored model that fails validation.
 */
static void
LinearCorrupted(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored linear model is corrupted"),
			 errdetail_internal("%s", detail)));
}

/*
 * Read a model back from LinearSerialize's bytea, validating every field.
 */
LinearModel *
LinearDeserialize(const bytea *blob)
{
	const char *src = VARDATA_ANY(blob);
	size_t		len = VARSIZE_ANY_EXHDR(blob);
	int32		sizes[4];
	uint8		version;
	uint8		kind;
	uint8		flags;
	uint64		ncoef;
	LinearModel *model;

	if (len < LINEAR_HEADER_SIZE || memcmp(src, LINEAR_MAGIC, LINEAR_MAGIC_LEN) != 0)
		LinearCorrupted("The data does not start with the linear model header.");
	version = (uint8) src[5];
	kind = (uint8) src[6];
	flags = (uint8) src[7];
	if (version != LINEAR_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stored linear model has unsupported format version %d",
						version),
				 errdetail("This version of mlops reads format version %d.",
						   LINEAR_FORMAT_VERSION),
				 errhint("Retrain the model with this version of mlops.")));
	memcpy(sizes, src + 8, sizeof(sizes));

	if (kind > LINEAR_LOGISTIC)
		LinearCorrupted("The model kind is unknown.");
	if ((flags & ~LINEAR_FLAG_CONVERGED) != 0)
		LinearCorrupted("The flags hold unknown bits.");
	if (sizes[0] < 1 || sizes[2] < 1 || sizes[3] < 0)
		LinearCorrupted("A size is out of range.");
	if (kind == LINEAR_LOGISTIC
		? (sizes[1] < 2 || sizes[2] != (sizes[1] == 2 ? 1 : sizes[1]))
		: (sizes[1] != 0 || sizes[2] != 1))
		LinearCorrupted("The number of classes does not match the number of outputs.");
	ncoef = (uint64) sizes[2] * (uint64) sizes[0];
	if ((len - LINEAR_HEADER_SIZE) % sizeof(double) != 0 ||
		(len - LINEAR_HEADER_SIZE) / sizeof(double) != ncoef + (uint64) sizes[2])
		LinearCorrupted("The length does not match the sizes.");

	model = LinearNewModel((LinearKind) kind, sizes[0], sizes[1], sizes[2]);
	model->iterations = sizes[3];
	model->converged = (flags & LINEAR_FLAG_CONVERGED) != 0;
	memcpy(model->coef, src + LINEAR_HEADER_SIZE, sizeof(double) * ncoef);
	memcpy(model->intercept, src + LINEAR_HEADER_SIZE + sizeof(double) * ncoef,
		   sizeof(double) * sizes[2]);
	for (uint64 u = 0; u < ncoef; u++)
		if (!isfinite(model->coef[u]))
			LinearCorrupted("A coefficient is not finite.");
	for (int k = 0; k < model->noutputs; k++)
		if (!isfinite(model->intercept[k]))
			LinearCorrupted("An intercept is not finite.");
	return model;
}
