/*-------------------------------------------------------------------------
 *
 * xgboost_model.c
 *	  Gradient-boosted trees and random forests through libxgboost's C API.
 *
 * Every libxgboost handle is owned by a memory context: a reset callback
 * frees it when the context goes away, so an ERROR (or a cancel) in the
 * middle of training frees the library's memory too.  Every call's return
 * code is checked and turned into an ERROR carrying XGBGetLastError().
 * Training calls CHECK_FOR_INTERRUPTS() between boosting rounds.
 *
 * The training rows reach libxgboost as its quantized matrix
 * (XGQuantileDMatrixCreateFromCallback), fed blocks of rows featurized from
 * the data set on the fly: the fit holds a byte per value, never a float
 * copy of the table nor libxgboost's copy of one.  The models are those of
 * the in-memory matrix bit for bit (same sketch, same bins).  The few
 * validation rows of early stopping stay an in-memory matrix, since
 * evaluation predicts from exact values.
 *
 * Models are stored in XGBoost's UBJSON format.  Random forests are the
 * trees of XGBoost's random-forest mode (one round of n_estimators parallel
 * trees with row and column subsampling and learning rate 1), grown one
 * tree per round so that a cancel stops them between trees (see
 * XgbForestGradients).
 *
 * Prediction is native: loading compiles the stored model into flat node
 * arrays (forest_compile.c); libxgboost's own loading and predict are not used.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <xgboost/c_api.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "serve/forest.h"
#include "serve/model.h"
#include "ops/progress.h"

/* the blocks of rows handed to libxgboost: at most this many rows... */
#define XGB_BLOCK_ROWS 65536
/* ... and about this many values (16 MB of floats) */
#define XGB_BLOCK_VALUES (4 * 1024 * 1024)

/* a libxgboost handle freed with the memory context that owns it */
typedef struct XgbOwned
{
	void	   *handle;
	bool		booster;
} XgbOwned;

/*
 * libxgboost's last error message, without its timestamp and stack trace.
 */
static char *
XgbLastError(void)
{
	const char *msg = XGBGetLastError();
	const char *end;

	if (msg[0] == '[' && (end = strstr(msg, "] ")) != NULL)
		msg = end + 2;
	end = strchr(msg, '\n');
	return end ? pnstrdup(msg, end - msg) : pstrdup(msg);
}

/*
 * Turn a failed libxgboost call into an ERROR.
 */
static inline void
XgbCheck(int rc, const char *what)
{
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("libxgboost failed to %s", what),
				 errdetail("%s", XgbLastError())));
}

/*
 * Memory context reset callback: free the handle if still owned.
 */
static void
XgbFree(void *arg)
{
	XgbOwned   *o = (XgbOwned *) arg;

	if (o->handle == NULL)
		return;
	if (o->booster)
		XGBoosterFree(o->handle);
	else
		XGDMatrixFree(o->handle);
	o->handle = NULL;
}

/*
 * Make CurrentMemoryContext the owner of a handle.
 */
static XgbOwned *
XgbOwn(void *handle, bool booster)
{
	XgbOwned   *o = palloc(sizeof(XgbOwned));
	MemoryContextCallback *cb = palloc(sizeof(MemoryContextCallback));

	o->handle = handle;
	o->booster = booster;
	cb->func = XgbFree;
	cb->arg = o;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return o;
}

/*
 * The per-row float info libxgboost takes with the rows start .. start + n
 * - 1 of the training (or validation) rows: labels, and with class_weight
 * (one weight per class, y class indices) each row's class weight, as
 * scikit-learn's sample_weight does; the quantile sketch of "hist" and the
 * objectives use the weights.  buf has room for n floats.
 */
static void
XgbSetInfo(DMatrixHandle h, const TrainData *td, bool validation, int start, int n,
		   float *buf)
{
	const double *y = (validation ? td->yval : td->y) + start;

	for (int i = 0; i < n; i++)
		buf[i] = (float) y[i];
	XgbCheck(XGDMatrixSetFloatInfo(h, "label", buf, n), "set labels");
	if (td->class_weight != NULL)
	{
		for (int i = 0; i < n; i++)
			buf[i] = (float) td->class_weight[(int) y[i]];
		XgbCheck(XGDMatrixSetFloatInfo(h, "weight", buf, n), "set weights");
	}
}

/*
 * The number of rows of a block handed to libxgboost: about
 * XGB_BLOCK_VALUES values, never more than XGB_BLOCK_ROWS rows nor than
 * the n rows there are.
 */
static int
XgbBlockRows(int n, int p)
{
	return Max(1, Min(Min(XGB_BLOCK_ROWS, n), XGB_BLOCK_VALUES / Max(1, p)));
}

/*
 * The state of the iterator that feeds the training rows to
 * XGQuantileDMatrixCreateFromCallback a block at a time.  libxgboost calls
 * it from C++ and reads the rows twice (the quantile sketch, then the bin
 * indexes), so a PostgreSQL error (a cancel, out of memory) must not unwind
 * through its frames: it is caught, ends the iteration, and is thrown again
 * once libxgboost has returned.
 */
typedef struct XgbRowIter
{
	const TrainData *td;
	DMatrixHandle proxy;
	int			next;			/* first row of the next block */
	int			block_rows;
	float	   *block;			/* block_rows x p, row-major */
	float	   *info;			/* block_rows labels or weights */
	MemoryContext block_cxt;	/* featurizing work memory, reset per block */
	MemoryContext cxt;			/* where an error is kept */
	ErrorData  *error;			/* the error that stopped the iteration */
} XgbRowIter;

/*
 * libxgboost's reset callback: the rows again from the first.
 */
static void
XgbRowIterReset(DataIterHandle handle)
{
	((XgbRowIter *) handle)->next = 0;
}

/*
 * libxgboost's next callback: hand the next block of rows to the proxy
 * matrix as a dense row-major array of floats (the array interface, which
 * libxgboost reads in place; each value is the float the in-memory matrix
 * makes of the featurized double); 0 when there are no more rows.
 */
static int
XgbRowIterNext(DataIterHandle handle)
{
	XgbRowIter *it = (XgbRowIter *) handle;
	const TrainData *td = it->td;
	int			n;
	char		iface[160];
	MemoryContext old;

	if (it->error != NULL || it->next >= td->n)
		return 0;
	n = Min(it->block_rows, td->n - it->next);
	old = MemoryContextSwitchTo(it->block_cxt);
	PG_TRY();
	{
		TrainDataFloatRows(td, false, it->next, n, it->block);
		snprintf(iface, sizeof(iface),
				 "{\"data\": [%zu, true], \"shape\": [%d, %d], \"typestr\": \"<f4\", \"version\": 3}",
				 (size_t) it->block, n, td->p);
		XgbCheck(XGProxyDMatrixSetDataDense(it->proxy, iface), "set a block of rows");
		XgbSetInfo(it->proxy, td, false, it->next, n, it->info);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(it->cxt);
		it->error = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextReset(it->block_cxt);
	if (it->error != NULL)
		return 0;
	it->next += n;
	return 1;
}

/*
 * The training rows as libxgboost's quantized matrix for the "hist"
 * method, owned by the current context.  It is fed a block of rows at a
 * time, so neither a float copy of the rows nor libxgboost's own copy of
 * the values is made: only the bin index of each value (one byte up to 256
 * bins) is kept.  The bins are those of the in-memory matrix: the sketch
 * sees the same values in the same order.
 */
static XgbOwned *
XgbQuantileMatrix(const TrainData *td, int max_bin)
{
	XgbRowIter	it = {0};
	DMatrixHandle proxy;
	DMatrixHandle h = NULL;
	XgbOwned   *owned_proxy;
	char	   *config;
	int			rc;

	XgbCheck(XGProxyDMatrixCreate(&proxy), "create a proxy matrix");
	owned_proxy = XgbOwn(proxy, false);
	it.td = td;
	it.proxy = proxy;
	it.block_rows = XgbBlockRows(td->n, td->p);
	it.block = palloc(sizeof(float) * (size_t) it.block_rows * Max(1, td->p));
	it.info = palloc(sizeof(float) * it.block_rows);
	it.cxt = CurrentMemoryContext;
	it.block_cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops xgboost block",
										 ALLOCSET_DEFAULT_SIZES);
	config = psprintf("{\"missing\": NaN, \"nthread\": %d, \"max_bin\": %d}",
					  mlops_threads, max_bin);
	rc = XGQuantileDMatrixCreateFromCallback(&it, proxy, NULL, XgbRowIterReset,
											 XgbRowIterNext, config, &h);
	if (it.error != NULL)
	{
		if (rc == 0)
			XGDMatrixFree(h);
		ReThrowError(it.error);
	}
	XgbCheck(rc, "build the quantized matrix");
	XgbFree(owned_proxy);
	MemoryContextDelete(it.block_cxt);
	pfree(it.block);
	pfree(it.info);
	return XgbOwn(h, false);
}

/*
 * The validation rows as an in-memory DMatrix, owned by the current
 * context: early stopping evaluates on exact values, which a quantized
 * matrix does not keep.  libxgboost wants row-major floats with NaN as
 * missing.
 */
static XgbOwned *
XgbValidationMatrix(const TrainData *td)
{
	int			n = td->nval;
	int			p = td->p;
	float	   *Xf = palloc_extended(sizeof(float) * Max(1, (size_t) n * p), MCXT_ALLOC_HUGE);
	float	   *info = palloc_extended(sizeof(float) * Max(1, n), MCXT_ALLOC_HUGE);
	DMatrixHandle h;
	XgbOwned   *o;

	TrainDataFloatRows(td, true, 0, n, Xf);
	XgbCheck(XGDMatrixCreateFromMat_omp(Xf, n, p, NAN, &h, mlops_threads), "create a matrix");
	o = XgbOwn(h, false);
	XgbSetInfo(h, td, true, 0, n, info);
	pfree(Xf);
	pfree(info);
	return o;
}

/*
 * An estimate of the bytes the quantized matrix of n rows and p features
 * takes while a booster trains on it: a bin index per value (one byte up
 * to 256 bins, else two) and, per row, its offset, the label, weight,
 * gradient pairs and predictions of every output; building it adds one
 * block of rows.
 */
static double
XgbQuantileMatrixMemory(double n, double p, int max_bin, int noutputs)
{
	double		bin_bytes = (max_bin <= 256) ? 1 : 2;
	double		block = XgbBlockRows((int) n, (int) p) * (p * sizeof(double) + sizeof(float));

	return n * p * bin_bytes + block +
		n * (2 * sizeof(float) + sizeof(size_t) + noutputs * (2 * sizeof(float) + sizeof(float)));
}

/*
 * An estimate of the bytes the in-memory validation matrix of n rows takes:
 * the row-major floats handed over, libxgboost's copy of them (an index and
 * a value per entry, row offsets) and, per row, the label, weight and
 * predictions of every output.
 */
static double
XgbValidationMatrixMemory(double n, double p, int noutputs)
{
	return n * p * (sizeof(float) + sizeof(uint32) + sizeof(float)) +
		n * (2 * sizeof(float) + sizeof(size_t) + noutputs * sizeof(float));
}

/*
 * The bytes XgbFit allocates besides td's arrays (see the two functions
 * above), plus the gradient histograms of the "hist" method: libxgboost
 * 1.7 keeps one per node of the tree being grown, a pair of doubles per
 * bin of every feature (at most max_bin bins, and no more than there are
 * rows).
 */
static double
XgbFitMemory(const TrainData *td, const HyperParams *hp)
{
	int			max_bin = (int) hp->v[HP_MAX_BIN];
	int			depth = (int) hp->v[HP_MAX_DEPTH];
	int			noutputs = (td->nclasses > 2) ? td->nclasses : 1;
	double		nodes = 2.0 * td->n;

	if (depth > 0 && depth < 30)
		nodes = Min(nodes, (double) (1 << (depth + 1)));
	return XgbQuantileMatrixMemory(td->n, td->p, max_bin, noutputs) +
		XgbValidationMatrixMemory(td->nval, td->p, noutputs) +
		nodes * td->p * Min(max_bin, td->n) * 2 * sizeof(double);
}

/*
 * Set one booster parameter from a number.
 */
static void
XgbParam(BoosterHandle b, const char *name, double v)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), "%.17g", v);
	XgbCheck(XGBoosterSetParam(b, name, buf), "set a parameter");
}

/*
 * Set a float parameter to exactly v.  XGBoost 1.7 reads a number in
 * exponent notation with two roundings (dmlc::stof), which can land one ulp
 * away ("9.999e-05"); 19 decimals in fixed notation it reads exactly, for v
 * down to about 1e-11.
 */
static void
XgbParamFloat(BoosterHandle b, const char *name, float v)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), "%.19f", v);
	XgbCheck(XGBoosterSetParam(b, name, buf), "set a parameter");
}

/*
 * The weight of training row i: its class's weight, 1 without class_weight.
 */
static inline float
XgbRowWeight(const TrainData *td, int i)
{
	return td->class_weight ? (float) td->class_weight[(int) td->y[i]] : 1.0f;
}

/*
 * The gradients and hessians random-forest trees are grown on, n x K
 * row-major (K classes for multi:softprob, else 1); *len is n x K.
 *
 * XGBoost's random-forest mode grows n_estimators parallel trees in one
 * boosting round, each on the gradients of the objective at the base margin
 * (from base_score 0.5, which mlops leaves alone), and scales each tree's
 * leaves by eta / n_estimators (in float).  A round cannot be stopped once
 * started, so we grow the same trees one per round (XGBoosterBoostOneIter)
 * on those gradients, with eta / n_estimators as each round's learning
 * rate, and check for interrupts between rounds.  The hist updater draws
 * row and column samples from random streams that run on across rounds, so
 * regression and binary forests are the one-round forest bit for bit.  A
 * multiclass round grows one tree per class, so the classes' trees take
 * their samples from the streams in another order than in one round: other
 * draws of the same random forest.
 *
 * The values are computed in float as XGBoost 1.7's objectives do at that
 * margin, with the row weights r of class_weight (1 without it):
 *	 reg:squarederror  p = 0.5; g = p - y, h = 1
 *	 binary:logistic   margin 0, p = 0.5; g = (p - y) w,
 *					   h = max(p (1 - p), 1e-16) w, w = r * scale_pos_weight
 *					   for label 1, else r
 *	 multi:softprob    equal margins, p = 1 / K; g = (p - [y = k]) r,
 *					   h = max(2 p (1 - p) r, 1e-16)
 */
static void
XgbForestGradients(const TrainData *td, const HyperParams *hp,
				   float **grad, float **hess, bst_ulong *len)
{
	int			k = td->nclasses > 2 ? td->nclasses : 1;
	size_t		size = sizeof(float) * (size_t) td->n * k;
	float	   *g = palloc_extended(size, MCXT_ALLOC_HUGE);
	float	   *h = palloc_extended(size, MCXT_ALLOC_HUGE);

	if (td->nclasses == 0)
	{
		float		p = 0.5f;

		for (int i = 0; i < td->n; i++)
		{
			g[i] = p - (float) td->y[i];
			h[i] = 1.0f;
		}
	}
	else if (td->nclasses == 2)
	{
		float		p = 0.5f;
		float		spw = (float) hp->v[HP_SCALE_POS_WEIGHT];

		for (int i = 0; i < td->n; i++)
		{
			float		y = (float) td->y[i];
			float		r = XgbRowWeight(td, i);
			float		w = (y == 1.0f) ? r * spw : r;

			g[i] = (p - y) * w;
			h[i] = fmaxf(p * (1.0f - p), 1e-16f) * w;
		}
	}
	else
	{
		float		p = 1.0f / (float) k;

		for (int i = 0; i < td->n; i++)
		{
			float		r = XgbRowWeight(td, i);

			for (int c = 0; c < k; c++)
			{
				size_t		at = (size_t) i * k + c;

				g[at] = ((c == (int) td->y[i]) ? p - 1.0f : p) * r;
				h[at] = fmaxf(2.0f * p * (1.0f - p) * r, 1e-16f);
			}
		}
	}
	*grad = g;
	*hess = h;
	*len = (bst_ulong) td->n * k;
}

/*
 * The loss on the validation rows after a round (for early stopping).
 */
static double
XgbEvalLoss(BoosterHandle b, int iter, DMatrixHandle dval)
{
	const char *names[] = {"valid"};
	const char *out;
	const char *colon;

	XgbCheck(XGBoosterEvalOneIter(b, iter, &dval, names, 1, &out), "evaluate");
	colon = strrchr(out, ':');
	return colon ? strtod(colon + 1, NULL) : NAN;
}

/*
 * The average gain of the splits on each feature (XGBoost's "gain"
 * importance); features never split on keep 0.  libxgboost names the
 * features f0, f1, ...
 */
static void
XgbImportance(BoosterHandle b, int p, double *importance)
{
	bst_ulong	nfeat,
				dim;
	const char **names;
	const bst_ulong *shape;
	const float *scores;

	XgbCheck(XGBoosterFeatureScore(b, "{\"importance_type\": \"gain\", \"feature_map\": \"\"}",
								   &nfeat, &names, &dim, &shape, &scores),
			 "compute feature importance");
	for (bst_ulong i = 0; i < nfeat; i++)
	{
		int			j = (names[i][0] == 'f') ? atoi(names[i] + 1) : -1;

		if (j >= 0 && j < p)
			importance[j] = scores[i];
	}
}

/*
 * Train boosted trees or a random forest; returns the UBJSON model.
 */
static bytea *
XgbFit(const TrainData *td, const HyperParams *hp, StringInfo info, double *importance)
{
	XgbOwned   *dtrain;
	XgbOwned   *dval = NULL;
	DMatrixHandle htrain;
	DMatrixHandle hval = td->dval;
	XgbOwned   *booster;
	XgbOwned   *sliced_booster = NULL;
	BoosterHandle b;
	bool		forest = (td->algorithm == ALG_RANDOM_FOREST);
	int			rounds = (int) hp->v[HP_N_ESTIMATORS];
	int			patience = forest ? 0 : (int) hp->v[HP_EARLY_STOPPING_ROUNDS];
	int			best_iter = rounds - 1;
	double		best_loss = INFINITY;
	int			done = 0;
	float	   *grad = NULL;
	float	   *hess = NULL;
	bst_ulong	ngrad = 0;
	bst_ulong	len;
	const char *raw;
	bytea	   *blob;

	if (td->dtrain == NULL)
		TrainDataFloatColumns(td);
	dtrain = td->dtrain ? NULL : XgbQuantileMatrix(td, (int) hp->v[HP_MAX_BIN]);
	htrain = td->dtrain ? td->dtrain : dtrain->handle;
	if (patience > 0 && hval == NULL)
	{
		dval = XgbValidationMatrix(td);
		hval = dval->handle;
	}
	TrainDataRowsDone(td);

	XgbCheck(XGBoosterCreate(&htrain, 1, &b), "create a booster");
	booster = XgbOwn(b, true);

	XgbCheck(XGBoosterSetParam(b, "verbosity", "0"), "set a parameter");
	XgbCheck(XGBoosterSetParam(b, "tree_method", "hist"), "set a parameter");
	if (td->nclasses == 0)
		XgbCheck(XGBoosterSetParam(b, "objective", "reg:squarederror"), "set a parameter");
	else if (td->nclasses == 2)
	{
		XgbCheck(XGBoosterSetParam(b, "objective", "binary:logistic"), "set a parameter");
		XgbParam(b, "scale_pos_weight", hp->v[HP_SCALE_POS_WEIGHT]);
	}
	else
	{
		XgbCheck(XGBoosterSetParam(b, "objective", "multi:softprob"), "set a parameter");
		XgbParam(b, "num_class", td->nclasses);
	}
	XgbParam(b, "nthread", mlops_threads);
	XgbParam(b, "seed", td->seed);
	XgbParam(b, "max_depth", hp->v[HP_MAX_DEPTH]);
	if (forest)
		XgbParamFloat(b, "eta", (float) hp->v[HP_LEARNING_RATE] / (float) rounds);
	else
		XgbParam(b, "eta", hp->v[HP_LEARNING_RATE]);
	XgbParam(b, "subsample", hp->v[HP_SUBSAMPLE]);
	XgbParam(b, "colsample_bytree", hp->v[HP_COLSAMPLE_BYTREE]);
	XgbParam(b, "colsample_bynode", hp->v[HP_COLSAMPLE_BYNODE]);
	XgbParam(b, "min_child_weight", hp->v[HP_MIN_CHILD_WEIGHT]);
	XgbParam(b, "lambda", hp->v[HP_REG_LAMBDA]);
	XgbParam(b, "alpha", hp->v[HP_REG_ALPHA]);
	XgbParam(b, "gamma", hp->v[HP_GAMMA]);
	XgbParam(b, "max_bin", hp->v[HP_MAX_BIN]);
	if (forest)
		XgbForestGradients(td, hp, &grad, &hess, &ngrad);

	for (int it = 0; it < rounds; it++)
	{
		CHECK_FOR_INTERRUPTS();
		MlopsProgressAdvance(it);
		if (forest)
			XgbCheck(XGBoosterBoostOneIter(b, htrain, grad, hess, ngrad), "grow a tree");
		else
			XgbCheck(XGBoosterUpdateOneIter(b, it, htrain), "run a boosting round");
		done = it + 1;
		if (patience > 0)
		{
			double		loss = XgbEvalLoss(b, it, hval);

			if (loss < best_loss)
			{
				best_loss = loss;
				best_iter = it;
			}
			else if (it - best_iter >= patience)
				break;
		}
	}

	if (patience > 0 && best_iter + 1 < done)
	{
		BoosterHandle sliced;

		XgbCheck(XGBoosterSlice(b, 0, best_iter + 1, 1, &sliced), "slice the booster");
		sliced_booster = XgbOwn(sliced, true);
		b = sliced;
	}

	XgbImportance(b, td->p, importance);
	XgbCheck(XGBoosterSaveModelToBuffer(b, "{\"format\": \"ubj\"}", &len, &raw), "save the model");
	blob = palloc(VARHDRSZ + len);
	SET_VARSIZE(blob, VARHDRSZ + len);
	memcpy(VARDATA(blob), raw, len);

	appendStringInfo(info, ", \"rounds\": %d", done);
	if (patience > 0)
		appendStringInfo(info, ", \"best_iteration\": %d, \"best_validation_loss\": %.17g, \"validation_rows\": %d",
						 best_iter, best_loss, td->nval);

	/* free the library's memory now rather than at the end of the call */
	if (forest)
	{
		pfree(grad);
		pfree(hess);
	}
	if (dtrain)
		XgbFree(dtrain);
	if (dval)
		XgbFree(dval);
	if (sliced_booster)
		XgbFree(sliced_booster);
	XgbFree(booster);
	return blob;
}

/*
 * Load a stored UBJSON model: compile it to the native form (forest_compile.c) in
 * the current context.  libxgboost is not involved, so a loaded model holds
 * no libxgboost memory.
 */
static void *
XgbLoad(const bytea *blob, int nfeatures, int nclasses)
{
	return ForestFromXgboostUbjson(VARDATA_ANY(blob), VARSIZE_ANY_EXHDR(blob), nfeatures, nclasses);
}

/*
 * Score n row-major rows with the native form.  binary:logistic gives
 * P(label 1) per row; it is expanded in place, from the last row back, to
 * both probabilities.
 */
static void
XgbPredict(void *impl, const double *X, int n, int p, double *out)
{
	Forest	   *f = (Forest *) impl;

	Assert(p == f->nfeatures);
	ForestPredict(f, X, n, mlops_vector_tree_walk, out);
	if (f->transform == FOREST_SIGMOID)
		for (int i = n - 1; i >= 0; i--)
		{
			double		p1 = out[i];

			out[2 * i + 1] = p1;
			out[2 * i] = 1.0 - p1;
		}
}

/*
 * Convert a saved booster between XGBoost's JSON and UBJSON formats
 * through libxgboost (format "json" or "ubj"); returns the bytes as a
 * bytea.  A document libxgboost cannot load is an error naming "what".
 */
bytea *
XgbConvertModel(const char *data, size_t len, const char *format, const char *what)
{
	BoosterHandle b;
	XgbOwned   *booster;
	bst_ulong	outlen;
	const char *raw;
	char	   *config = psprintf("{\"format\": \"%s\"}", format);
	bytea	   *out;

	XgbCheck(XGBoosterCreate(NULL, 0, &b), "create a booster");
	booster = XgbOwn(b, true);
	if (XGBoosterLoadModelFromBuffer(b, data, len) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is not an XGBoost model", what),
				 errdetail("libxgboost: %.200s", XgbLastError())));
	XgbCheck(XGBoosterSaveModelToBuffer(b, config, &outlen, &raw), "save the model");
	out = palloc(VARHDRSZ + outlen);
	SET_VARSIZE(out, VARHDRSZ + outlen);
	memcpy(VARDATA(out), raw, outlen);
	XgbFree(booster);
	return out;
}

/*
 * An in-memory DMatrix of n column-major rows with their labels, owned by
 * the current context, for XgbMatrixSlice: mlops.tune slices its folds out
 * of it (libxgboost 1.7 cannot slice a quantized matrix).  libxgboost wants
 * row-major floats with NaN as missing.
 */
void *
XgbMatrixCreate(const double *X, const double *y, int n, int p)
{
	float	   *Xf = palloc_extended(sizeof(float) * (size_t) n * p, MCXT_ALLOC_HUGE);
	float	   *yf = palloc_extended(sizeof(float) * Max(1, n), MCXT_ALLOC_HUGE);
	DMatrixHandle h;

	for (int j = 0; j < p; j++)
	{
		const double *col = X + (size_t) j * n;

		for (int i = 0; i < n; i++)
			Xf[(size_t) i * p + j] = (float) col[i];
	}
	for (int i = 0; i < n; i++)
		yf[i] = (float) y[i];
	XgbCheck(XGDMatrixCreateFromMat_omp(Xf, n, p, NAN, &h, mlops_threads), "create a matrix");
	XgbOwn(h, false);
	XgbCheck(XGDMatrixSetFloatInfo(h, "label", yf, n), "set labels");
	pfree(Xf);
	pfree(yf);
	return h;
}

/*
 * Rows of a DMatrix made by XgbMatrixCreate (labels included) as a DMatrix
 * owned by the current context, each row weighing weights[i] (NULL: 1).
 * libxgboost keeps the quantized form of a DMatrix with it, so fits on the
 * same slice quantize once.
 */
void *
XgbMatrixSlice(void *full, const int *rows, int nrows, const float *weights)
{
	DMatrixHandle h;

	XgbCheck(XGDMatrixSliceDMatrix(full, rows, nrows, &h), "slice a matrix");
	XgbOwn(h, false);
	if (weights != NULL)
		XgbCheck(XGDMatrixSetFloatInfo(h, "weight", weights, nrows), "set weights");
	return h;
}

const AlgorithmOps xgboost_ops = {
	.fit = XgbFit,
	.fit_memory = XgbFitMemory,
	.load = XgbLoad,
	.predict = XgbPredict,
	.streams = true,
};
