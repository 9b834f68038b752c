/*-------------------------------------------------------------------------
 *
 * model_cache.h
 *	  Per-backend cache of loaded models and of each project's deployed
 *	  model.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_MODEL_CACHE_H
#define MLOPS_MODEL_CACHE_H

#include "postgres.h"

#include "serve/model.h"

/* mlops.model_cache_size: loaded models each backend keeps */
extern int	mlops_model_cache_size;

extern void ModelCacheInit(void);
extern MlopsModel *ModelCacheGet(int64 model_id);
extern int64 ModelCacheDeployed(const char *project);
extern int64 ModelCacheDeployedIfAny(const char *project);
extern uint64 ModelCacheGeneration(void);

#endif							/* MLOPS_MODEL_CACHE_H */
