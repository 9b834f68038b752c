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
#include "owner_sql.h"

#define MLOPS_MAX_PROJECT_NAME (NAMEDATALEN - 1)

typedef struct RegistryProject
{
	int64		id;
	char	   *name;
	MlopsTask	task;
	char	   *target;
	Oid			owner;			/* the role that created it; 0 once dropped */
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
	Jsonb	   *profile;
	Jsonb	   *importance;
	int			format;
	bytea	   *model;
	int64		parent_model_id;	/* 0: none */
	char	   *data_fingerprint;	/* NULL: not trained here */
} RegistryModelRow;

extern void RegistryCheckProjectName(const char *name);
extern RegistryProject *RegistryGetProject(const char *name, bool missing_ok);
extern RegistryProject *RegistryGetProjectById(int64 project_id);
extern int64 RegistryCreateProject(const char *name, MlopsTask task, const char *target);
extern int64 RegistryInsertModel(const RegistryModelRow *row, int *version);
extern int64 RegistryDeployedModel(int64 project_id);
extern double RegistryModelScore(int64 model_id, const char *metric);
extern void RegistryDeploy(int64 project_id, int64 model_id, const char *strategy);
extern void RegistryLogEvent(const char *action, const char *project, int64 model_id,
							 const char *detail_json);
extern void RegistryInsertEvaluation(int64 model_id, const char *relation, int64 rows,
									 Jsonb *metrics);
extern Oid	RegistryTableOid(const char *name);
extern int64 RegistryChooseModel(int64 project_id, const char *metric, bool lower_is_better,
								 const char *strategy, int64 model_id);
extern int	RegistryModelVersion(int64 model_id);
extern void RegistryDropModel(int64 model_id);
extern void RegistryDropProject(int64 project_id);
extern int64 RegistryModelProject(int64 model_id);
extern void RegistryLockProject(const RegistryProject *p);

/* one feature's row of a drift report; NaN stands for NULL */
typedef struct RegistryDriftResult
{
	const char *feature;
	const char *kind;			/* "numeric" or "categorical" */
	const char *method;
	double		statistic;
	double		p_value;
	double		threshold;
	bool		drifted;
	double		null_share;
	double		out_of_range_share;
	double		unseen_share;
	double		raw_statistic;
} RegistryDriftResult;

/* one call of mlops.drift */
typedef struct RegistryDriftReport
{
	int64		project_id;
	int64		model_id;
	const char *relation;
	int64		rows;
	const char *method;			/* as requested */
	double		threshold;		/* as requested; NaN for the defaults */
	int			features;		/* source columns checked (not the predictions) */
	int			drifted;		/* columns with a drifted input among them */
	double		drift_share;
	bool		dataset_drift;
	int			prediction_drift;	/* 1, 0, or -1 without a prediction row */
	int			nresults;
	const RegistryDriftResult *results;
} RegistryDriftReport;

extern Jsonb *RegistryModelProfile(int64 model_id);
extern int64 RegistryInsertDriftReport(const RegistryDriftReport *report);

#endif							/* MLOPS_REGISTRY_H */
