/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  The model registry: projects, models, deployments, evaluations and
 *	  events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_REGISTRY_H
#define MLOPS_REGISTRY_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "mlops.h"

#define MLOPS_MAX_PROJECT_NAME (NAMEDATALEN - 1)

typedef struct RegistryProject
{
	int64		id;
	char	   *name;
	MlopsTask	task;
	char	   *target;
	char	   *created_by;
} RegistryProject;

/* what a new model row holds */
typedef struct RegistryModelRow
{
	int64		project_id;
	MlopsAlgorithm algorithm;
	Jsonb	   *hyperparams;
	Jsonb	   *preprocess;
	Jsonb	   *features;
	char	  **labels;			/* NULL for regression */
	int			nlabels;
	Jsonb	   *metrics;
	Jsonb	   *training;
	int			format;
	bytea	   *model;
} RegistryModelRow;

extern void RegistryCheckProjectName(const char *name);
extern RegistryProject *RegistryGetProject(const char *name, bool missing_ok);
extern void RegistryCheckProjectOwner(const RegistryProject *p);
extern int64 RegistryCreateProject(const char *name, MlopsTask task, const char *target);
extern int64 RegistryInsertModel(const RegistryModelRow *row, int *version);
extern int64 RegistryDeployedModel(int64 project_id);
extern double RegistryModelScore(int64 model_id, MlopsTask task);
extern void RegistryDeploy(int64 project_id, int64 model_id, const char *strategy);
extern void RegistryLogEvent(const char *action, const char *project, int64 model_id,
							 const char *detail_json);
extern void RegistryInsertEvaluation(int64 model_id, const char *relation, int64 rows,
									 Jsonb *metrics);
extern Oid	RegistryTableOid(const char *name);
extern int64 RegistryChooseModel(int64 project_id, MlopsTask task, const char *strategy,
								 int64 model_id);
extern int	RegistryModelVersion(int64 model_id);
extern void RegistryDropModel(int64 model_id);
extern void RegistryDropProject(int64 project_id);
extern int64 RegistryModelProject(int64 model_id);

#endif							/* MLOPS_REGISTRY_H */
