/*-------------------------------------------------------------------------
 *
 * drift.h
 *	  mlops.drift: compare a relation with a model's reference profile.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DRIFT_H
#define MLOPS_DRIFT_H

#include "postgres.h"

/* mlops.drift_sample_size: reference values sampled per numeric input */
extern int	mlops_drift_sample_size;

/*
 * Define the drift settings; called from _PG_init.
 */
extern void DriftDefineSettings(void);

#endif							/* MLOPS_DRIFT_H */
