/*-------------------------------------------------------------------------
 *
 * explain.h
 *	  Per-input contributions to a model's raw margin (TreeSHAP for trees,
 *	  coefficient times value for linear models).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_EXPLAIN_H
#define MLOPS_EXPLAIN_H

#include "postgres.h"

#include "serve/model.h"

extern int	ExplainOutputs(const MlopsModel *m);
extern void ExplainCheckModel(const MlopsModel *m);
extern void ExplainRow(const MlopsModel *m, const double *x, double *phi, double *contrib);
extern const char *ExplainOutputName(const MlopsModel *m, int c);

#endif							/* MLOPS_EXPLAIN_H */
