/*-------------------------------------------------------------------------
 *
 * retrain.h
 *	  mlops.retrain: re-running a project's training settings.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_RETRAIN_H
#define MLOPS_RETRAIN_H

#include "postgres.h"

#include "registry.h"

extern void RetrainCheckSettings(const RegistryProject *proj, const char *relation);

#endif							/* MLOPS_RETRAIN_H */
