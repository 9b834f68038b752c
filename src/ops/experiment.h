/*-------------------------------------------------------------------------
 *
 * experiment.h
 *	  Canary and shadow experiments: their state in mlops.experiments and
 *	  the deploy strategies that start and end them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_EXPERIMENT_H
#define MLOPS_EXPERIMENT_H

#include "postgres.h"

#include "registry.h"

typedef enum ExperimentKind
{
	EXPERIMENT_NONE,
	EXPERIMENT_CANARY,			/* the challenger answers a fraction of the keys */
	EXPERIMENT_SHADOW			/* the challenger is scored on every call, never answers */
} ExperimentKind;

/* a project's running experiment */
typedef struct Experiment
{
	int64		id;
	ExperimentKind kind;
	int64		champion_id;	/* the deployed model when it started */
	int64		challenger_id;
	double		fraction;		/* canary: of the keys; shadow: 0 */
} Experiment;

extern bool ExperimentRunning(const char *project, Experiment *e);
extern int64 ExperimentStart(const RegistryProject *proj, ExperimentKind kind, int64 model_id,
							 double fraction);
extern int64 ExperimentChallenger(const RegistryProject *proj, const char *strategy);
extern int64 ExperimentEnd(const char *project, const char *outcome, const char *reason);
extern void ExperimentEndByDeploy(int64 project_id, int64 model_id, const char *strategy);
extern void ExperimentCheckNotChallenger(const RegistryProject *proj, int64 model_id, const char *what);

#endif							/* MLOPS_EXPERIMENT_H */
