/*-------------------------------------------------------------------------
 *
 * curves.h
 *	  ROC, precision-recall and calibration curves of classification
 *	  models, computed on a labeled relation or stored for the held-out
 *	  rows at training.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_CURVES_H
#define MLOPS_CURVES_H

#include "postgres.h"

/* the held-out curves of a model being trained */
typedef struct CurveSet CurveSet;

extern CurveSet *CurvesHeldOut(const double *proba, const double *target, int n,
							   int nclasses, char **labels);
extern void CurvesStore(int64 model_id, const CurveSet *set);

#endif							/* MLOPS_CURVES_H */
