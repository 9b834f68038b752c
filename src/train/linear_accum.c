/*-------------------------------------------------------------------------
 *
 * linear_accum.c
 *	  Streaming QR sufficient statistics of least squares and ridge
 *	  regression (see linear_accum.h for the API).
 *
 * State.  The k x k upper-triangular R of [1 | X - s | y - t] (k = p + 2:
 * a column of ones, the p features, the target) over every row added, with
 * a non-negative diagonal, the number of rows and the shift (s, t): the
 * values of the first row added.  Shifting removes most of a large common
 * offset (features or a target far from zero relative to their spread)
 * before the QR, whose rounding is relative to the columns' norms, so the
 * centered statistics keep the accuracy of centering the rows first; it
 * changes R only in its first row (column j gains r11 times the shift
 * difference), which is how states of different shifts are merged.  Rows are buffered in a
 * block below R; a full block is folded in by a Householder QR (LAPACK
 * dgeqrf) of R stacked on the block, whose triangle is the new R.  Merging
 * folds the other state's R (and its buffered rows) in the same way: R of
 * [A; B] is R of [R_A; R_B].  Memory: (k + block) x k values, whatever the
 * number of rows (about 260 kB for p = 20).
 *
 * Solving.  Write R = [r11 r1x r1y; 0 Rxx rxy; 0 0 ryy] by the column
 * groups [1 | X | y].  The column of ones comes first, so Rxx is the R of
 * X centered on its column means, r1x / r11 are those means and r1y / r11
 * the target's mean (less the shift): the centered problem min ||Xc w - yc|| has the same
 * solutions as the p x p problem min ||Rxx w - rxy||, and no pass over the
 * rows computes the means first (the shift is added back to them).
 * Without an intercept the R of [X | y] is that of R's columns 1 .. k - 1
 * once the shift is undone in R's first row (a k x (k - 1) QR).
 *
 * - Least squares (LinearRegression): the minimum-norm solution of
 *	 Rxx w = rxy by LAPACK dgelsd, singular values below max(n, p) * machine
 *	 epsilon times the largest taken as zero: the cutoff linear_lstsq.c
 *	 applies to the n x p centered rows (numpy.linalg.lstsq's default
 *	 rcond), on the same singular values (Rxx's are Xc's), so a
 *	 rank-deficient design keeps the same documented, order-independent
 *	 minimum-norm solution.
 * - Ridge: the least-squares problem [Rxx; sqrt(alpha) I] w = [rxy; 0],
 *	 whose normal equations are (Xc'Xc + alpha I) w = Xc'yc, by a QR of the
 *	 2p x (p + 1) matrix with the right-hand side as its last column and a
 *	 triangular solve (dgelsd, as for least squares, should the triangle be
 *	 numerically singular).  This is more accurate than the Cholesky
 *	 factorization of the normal equations that scikit-learn and the
 *	 in-memory solver use; the two agree to rounding on problems whose
 *	 condition number is far from 1 / epsilon.
 *
 * Serialized form (bytea, in the byte order of the server, like the
 * models): the magic "MLACC", a format version byte, two zero bytes, int32
 * p, int32 zero, int64 rows, the shift (p + 1 float8: features, then the
 * target), then the upper triangle of R column by column (column j: rows
 * 0 .. j), (p + 2)(p + 3) / 2 float8 values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include <cblas.h>
#include <lapacke.h>

#include "utils/memutils.h"

#include "train/linear_accum.h"
#include "train/linear_internal.h"

#define ACCUM_MAGIC			"MLACC"
#define ACCUM_MAGIC_LEN		5
#define ACCUM_FORMAT_VERSION 1
#define ACCUM_HEADER_SIZE	24

struct LinearAccum
{
	int			p;				/* features */
	int			k;				/* p + 2 columns: ones, features, target */
	int64		nrows;			/* rows added, folded in or buffered */
	double	   *shift;			/* k: 0, then the first row's features and
								 * target, subtracted from every row */
	int			capacity;		/* rows the block below R holds */
	int			pending;		/* rows buffered in the block */
	int			ld;				/* k + capacity, leading dimension of work */
	double	   *work;			/* column-major: R in rows 0 .. k - 1, the
								 * block in rows k .. k + pending - 1 */
	double	   *tau;			/* dgeqrf's reflector scales, k */
	double	   *qrwork;			/* dgeqrf's workspace */
	lapack_int	lwork;
};

/*
 * Element (i, j) of the accumulator's column-major work matrix.
 */
#define W(acc, i, j) ((acc)->work[(size_t) (j) * (acc)->ld + (i)])

/*
 * A new, empty accumulator for p features, in CurrentMemoryContext.
 */
LinearAccum *
LinearAccumCreate(int nfeatures)
{
	LinearAccum *acc;
	double		query;

	if (nfeatures < 1 || nfeatures > LINEAR_ACCUM_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("linear model of %d features is out of range", nfeatures),
				 errdetail("Least squares and ridge take 1 to %d features.",
						   LINEAR_ACCUM_MAX_FEATURES)));
	acc = palloc0(sizeof(LinearAccum));
	acc->p = nfeatures;
	acc->k = nfeatures + 2;
	acc->capacity = LinearBlockRows(INT_MAX, acc->k);
	acc->ld = acc->k + acc->capacity;
	acc->work = LinearAlloc((size_t) acc->ld * acc->k, true);
	acc->tau = LinearAlloc(acc->k, false);
	acc->shift = LinearAlloc(acc->k, true);
	LinearCheckLapack("dgeqrf",
					  LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, acc->ld, acc->k, acc->work,
										  acc->ld, acc->tau, &query, -1));
	acc->lwork = Max((lapack_int) query, acc->k);
	acc->qrwork = LinearAlloc(acc->lwork, false);
	return acc;
}

/*
 * Fold the buffered rows into R: QR of R stacked on them, the triangle
 * kept with a non-negative diagonal (which makes R unique for a design of
 * full rank).
 */
static void
AccumFlush(LinearAccum *acc)
{
	int			k = acc->k;

	if (acc->pending == 0)
		return;
	LinearCheckLapack("dgeqrf",
					  LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, k + acc->pending, k, acc->work,
										  acc->ld, acc->tau, acc->qrwork, acc->lwork));
	for (int j = 0; j < k; j++)
		for (int i = j + 1; i < k + acc->pending; i++)
			W(acc, i, j) = 0;
	for (int i = 0; i < k; i++)
		if (W(acc, i, i) < 0)
			for (int j = i; j < k; j++)
				W(acc, i, j) = -W(acc, i, j);
	acc->pending = 0;
}

/*
 * Buffer one row of the k columns of a state shifted by "from", element j
 * at row[j * stride], shifted by acc's shift instead: element j gains
 * element 0 (the ones column) times from[j] - shift[j].  The caller counts
 * it in nrows.
 */
static void
AccumAppendRaw(LinearAccum *acc, const double *row, size_t stride, const double *from)
{
	int			r;

	if (acc->pending == acc->capacity)
		AccumFlush(acc);
	r = acc->k + acc->pending++;
	for (int j = 0; j < acc->k; j++)
		W(acc, r, j) = row[j * stride] + row[0] * (from[j] - acc->shift[j]);
}

/*
 * Add one row: p feature values (finite) and the target.
 */
void
LinearAccumAddRow(LinearAccum *acc, const double *x, double y)
{
	int			r;

	if (acc->nrows == 0)
	{
		memcpy(acc->shift + 1, x, sizeof(double) * acc->p);
		acc->shift[acc->p + 1] = y;
	}
	if (acc->pending == acc->capacity)
		AccumFlush(acc);
	r = acc->k + acc->pending++;
	W(acc, r, 0) = 1.0;
	for (int j = 0; j < acc->p; j++)
		W(acc, r, j + 1) = x[j] - acc->shift[j + 1];
	W(acc, r, acc->p + 1) = y - acc->shift[acc->p + 1];
	acc->nrows++;
}

/*
 * Add n rows: X is n x p, row-major; y holds n targets.
 */
void
LinearAccumAddRows(LinearAccum *acc, const double *X, const double *y, int n)
{
	for (int i = 0; i < n; i++)
		LinearAccumAddRow(acc, X + (size_t) i * acc->p, y[i]);
}

/*
 * Add the rows another accumulator of the same width has seen (its R and
 * its buffered rows); "other" is not changed.
 */
void
LinearAccumMerge(LinearAccum *acc, const LinearAccum *other)
{
	if (other->p != acc->p)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot merge linear model statistics of %d and %d features",
						acc->p, other->p)));
	if (acc->nrows == 0)
		memcpy(acc->shift, other->shift, sizeof(double) * acc->k);
	for (int i = 0; i < other->k + other->pending; i++)
	{
		const double *row = &W(other, i, 0);
		bool		zero = true;

		for (int j = 0; j < other->k && zero; j++)
			zero = row[(size_t) j * other->ld] == 0;
		if (!zero)
			AccumAppendRaw(acc, row, other->ld, other->shift);
	}
	acc->nrows += other->nrows;
}

/*
 * The number of features.
 */
int
LinearAccumFeatures(const LinearAccum *acc)
{
	return acc->p;
}

/*
 * The number of rows added, merged ones included.
 */
int64
LinearAccumRows(const LinearAccum *acc)
{
	return acc->nrows;
}

/*
 * The serialized state; see the file header for the format.
 */
bytea *
LinearAccumSerialize(LinearAccum *acc)
{
	size_t		ntri = (size_t) acc->k * (acc->k + 1) / 2;
	size_t		len = ACCUM_HEADER_SIZE + sizeof(double) * (acc->k - 1 + ntri);
	bytea	   *blob = palloc0(VARHDRSZ + len);
	char	   *dst = VARDATA(blob);
	int32		p = acc->p;
	double	   *vals = (double *) (dst + ACCUM_HEADER_SIZE);

	AccumFlush(acc);
	SET_VARSIZE(blob, VARHDRSZ + len);
	memcpy(dst, ACCUM_MAGIC, ACCUM_MAGIC_LEN);
	dst[5] = ACCUM_FORMAT_VERSION;
	memcpy(dst + 8, &p, sizeof(int32));
	memcpy(dst + 16, &acc->nrows, sizeof(int64));
	for (int j = 1; j < acc->k; j++)
		*vals++ = acc->shift[j];
	for (int j = 0; j < acc->k; j++)
		for (int i = 0; i <= j; i++)
			*vals++ = W(acc, i, j);
	return blob;
}

/*
 * Report a serialized state that fails validation.
 */
static void
AccumCorrupted(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("linear model statistics are corrupted"),
			 errdetail_internal("%s", detail)));
}

/*
 * An accumulator from LinearAccumSerialize's bytea (detoasted), every
 * field validated.
 */
LinearAccum *
LinearAccumDeserialize(const bytea *blob)
{
	const char *src = VARDATA_ANY(blob);
	size_t		len = VARSIZE_ANY_EXHDR(blob);
	int32		p;
	int64		nrows;
	LinearAccum *acc;
	size_t		ntri;

	if (len < ACCUM_HEADER_SIZE || memcmp(src, ACCUM_MAGIC, ACCUM_MAGIC_LEN) != 0)
		AccumCorrupted("The data does not start with the linear statistics header.");
	if ((uint8) src[5] != ACCUM_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("linear model statistics have unsupported format version %d",
						(uint8) src[5]),
				 errdetail("This version of mlops reads format version %d.",
						   ACCUM_FORMAT_VERSION)));
	memcpy(&p, src + 8, sizeof(int32));
	memcpy(&nrows, src + 16, sizeof(int64));
	if (p < 1 || p > LINEAR_ACCUM_MAX_FEATURES || nrows < 0)
		AccumCorrupted("A size is out of range.");
	ntri = (size_t) (p + 2) * (p + 3) / 2;
	if (len != ACCUM_HEADER_SIZE + sizeof(double) * (p + 1 + ntri))
		AccumCorrupted("The length does not match the number of features.");

	acc = LinearAccumCreate(p);
	acc->nrows = nrows;
	src += ACCUM_HEADER_SIZE;
	for (int j = 1; j < acc->k; j++)
	{
		memcpy(&acc->shift[j], src, sizeof(double));
		src += sizeof(double);
		if (!isfinite(acc->shift[j]))
			AccumCorrupted("A shift value is not finite.");
	}
	for (int j = 0; j < acc->k; j++)
		for (int i = 0; i <= j; i++)
		{
			double		v;

			memcpy(&v, src, sizeof(double));
			src += sizeof(double);
			if (!isfinite(v) || (i == j && v < 0))
				AccumCorrupted("A value is not finite, or a diagonal value is negative.");
			W(acc, i, j) = v;
		}
	return acc;
}

/*
 * The standard deviation of each feature over the rows (population, as
 * numpy's std): the norms of Rxx's columns over the square root of n.
 */
void
LinearAccumStddev(LinearAccum *acc, double *stddev)
{
	AccumFlush(acc);
	for (int j = 0; j < acc->p; j++)
	{
		double		ss = 0;

		for (int i = 1; i <= j + 1; i++)
			ss += W(acc, i, j + 1) * W(acc, i, j + 1);
		stddev[j] = acc->nrows > 0 ? sqrt(ss / acc->nrows) : 0;
	}
}

/*
 * Minimum-norm least-squares solution of the m x p column-major A w = b
 * (b's leading dimension ldb >= max(m, p); it returns w), singular values
 * below rcond times the largest taken as zero.  A and b are overwritten.
 */
static void
AccumLeastSquares(int m, int p, double *A, double *b, int ldb, double rcond)
{
	double	   *sv = LinearAlloc(Min(m, p), false);
	lapack_int	rank;

	LinearCheckLapack("dgelsd",
					  LAPACKE_dgelsd(LAPACK_COL_MAJOR, m, p, 1, A, m, b, ldb,
									 sv, rcond, &rank));
	pfree(sv);
}

/*
 * Copy rows off .. off + p - 1 of columns off .. off + ncols - 1 of the
 * triangle T (leading dimension ldt) into A (leading dimension lda).
 */
static void
AccumCopyBlock(const double *T, int ldt, int off, int p, int ncols, double *A, int lda)
{
	for (int j = 0; j < ncols; j++)
		memcpy(A + (size_t) j * lda, T + (size_t) (off + j) * ldt + off, sizeof(double) * p);
}

/*
 * Solve the problem whose triangle T (leading dimension ldt) has the
 * features in columns off .. off + p - 1 and the target in column off + p,
 * into w: least squares, or ridge with alpha > 0 (see the file header).
 */
static void
AccumSolveTriangle(const double *T, int ldt, int off, int p, int64 nrows,
				   LinearKind kind, double alpha, double *w)
{
	/* [Rxx rxy] for least squares, [Rxx rxy; sqrt(alpha) I 0] for ridge */
	bool		ridge = kind == LINEAR_RIDGE && alpha > 0;
	int			m = ridge ? 2 * p : p;
	double	   *A = LinearAlloc((size_t) m * (p + 1), true);
	double	   *b = A + (size_t) p * m;

	AccumCopyBlock(T, ldt, off, p, p + 1, A, m);
	if (ridge)
	{
		double	   *tau = LinearAlloc(p + 1, false);
		lapack_int	info;

		for (int j = 0; j < p; j++)
			A[(size_t) j * m + p + j] = sqrt(alpha);
		LinearCheckLapack("dgeqrf",
						  LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m, p + 1, A, m, tau));
		memcpy(w, b, sizeof(double) * p);
		info = LAPACKE_dtrtrs(LAPACK_COL_MAJOR, 'U', 'N', 'N', p, 1, A, m, w, p);
		if (info <= 0)
		{
			LinearCheckLapack("dtrtrs", info);
			return;
		}
		/* numerically singular: the minimum-norm solution, from the start */
		memset(A, 0, sizeof(double) * m * (p + 1));
		AccumCopyBlock(T, ldt, off, p, p + 1, A, m);
		for (int j = 0; j < p; j++)
			A[(size_t) j * m + p + j] = sqrt(alpha);
	}
	AccumLeastSquares(m, p, A, b, m,
					  Max((double) nrows + (ridge ? p : 0), (double) p) * DBL_EPSILON);
	memcpy(w, b, sizeof(double) * p);
}

/*
 * Fit least squares (LINEAR_OLS) or ridge (LINEAR_RIDGE, params->alpha)
 * from the accumulated rows, with an intercept when params->fit_intercept;
 * see the file header.  The model is allocated in CurrentMemoryContext.
 */
LinearModel *
LinearAccumSolve(LinearAccum *acc, LinearKind kind, const LinearParams *params)
{
	int			p = acc->p;
	int			k = acc->k;
	LinearModel *model;
	MemoryContext fitctx;
	MemoryContext oldctx;

	if (kind != LINEAR_OLS && kind != LINEAR_RIDGE)
		elog(ERROR, "linear model kind %d is not least squares or ridge", (int) kind);
	if (acc->nrows < 1)
		elog(ERROR, "linear model needs at least one row");
	/* the parameters only: the row count is an int64 here */
	LinearCheckProblem(1, p, params);
	AccumFlush(acc);

	model = LinearNewModel(kind, p, 0, 1);
	model->converged = true;
	fitctx = AllocSetContextCreate(CurrentMemoryContext, "linear model fit",
								   ALLOCSET_DEFAULT_SIZES);
	oldctx = MemoryContextSwitchTo(fitctx);

	if (params->fit_intercept)
	{
		double		r11 = W(acc, 0, 0);

		AccumSolveTriangle(acc->work, acc->ld, 1, p, acc->nrows, kind, params->alpha,
						   model->coef);
		/* intercept = mean(y) - mean(x) . w, the means shifted back */
		model->intercept[0] = acc->shift[p + 1] + W(acc, 0, p + 1) / r11;
		for (int j = 0; j < p; j++)
			model->intercept[0] -= (acc->shift[j + 1] + W(acc, 0, j + 1) / r11) * model->coef[j];
	}
	else
	{
		/* the R of [X | y]: QR of R's columns 1 .. k - 1, unshifted */
		double	   *S = LinearAlloc((size_t) k * (k - 1), false);
		double	   *tau = LinearAlloc(k - 1, false);

		for (int j = 1; j < k; j++)
		{
			memcpy(S + (size_t) (j - 1) * k, &W(acc, 0, j), sizeof(double) * k);
			S[(size_t) (j - 1) * k] += W(acc, 0, 0) * acc->shift[j];
		}
		LinearCheckLapack("dgeqrf",
						  LAPACKE_dgeqrf(LAPACK_COL_MAJOR, k, k - 1, S, k, tau));
		for (int j = 0; j < k - 1; j++)
			for (int i = j + 1; i < k; i++)
				S[(size_t) j * k + i] = 0;
		AccumSolveTriangle(S, k, 0, p, acc->nrows, kind, params->alpha, model->coef);
	}

	MemoryContextSwitchTo(oldctx);
	MemoryContextDelete(fitctx);
	return model;
}

/*
 * An estimate of the bytes an accumulator of p features and its solve
 * allocate, for mlops.max_train_memory: the state (R, the block of rows
 * below it, dgeqrf's workspace), then the largest solve (ridge without an
 * intercept: the k x (k - 1) copy of R, the 2p x (p + 1) problem and
 * dgelsd's workspace, about 256 values per feature).
 */
double
LinearAccumMemory(int nfeatures)
{
	double		p = nfeatures;
	double		k = p + 2;
	double		capacity = LinearBlockRows(INT_MAX, nfeatures + 2);
	double		state = (k + capacity) * k + 64 * k + 3 * k;
	double		solve = k * (k - 1) + 2 * p * (p + 1) + 256 * p + 1024;

	return (state + solve) * sizeof(double);
}
