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

#include "registry.h"
#include "serve/model.h"

/* mlops.model_cache_size: loaded models each backend keeps */
extern int	mlops_model_cache_size;

/* what serves a project: its deployed model and its running experiment */
typedef struct ModelDeployment
{
	int64		model_id;		/* the deployed model (the champion) */
	int64		challenger_id;	/* 0: no experiment runs */
	double		fraction;		/* a canary's; 0 for a shadow */
	bool		shadow;
} ModelDeployment;

extern void ModelCacheInit(void);
extern MlopsModel *ModelCacheGet(int64 model_id);
extern MlopsModel *ModelCacheGetOfProject(const RegistryProject *proj, const int64 *model_id);
extern int64 ModelCacheDeployed(const char *project);
extern ModelDeployment ModelCacheDeployment(const char *project);
extern ModelDeployment ModelCacheDeploymentIfAny(const char *project);
extern uint64 ModelCacheGeneration(void);

#endif							/* MLOPS_MODEL_CACHE_H */
