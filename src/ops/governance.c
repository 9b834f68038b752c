/*-------------------------------------------------------------------------
 *
 * governance.c
 *	  mlops.set_policy, mlops.set_stage, mlops.approve, mlops.reject, and
 *	  the gate every deploy passes (GovernanceDeploy).
 *
 * A deploy other than a rollback (mlops.deploy, train's and retrain's
 * automatic deploys, an approval) must pass the project's policy
 * (policy.c): the model is not archived, reaches every "min_score", and
 * the time is inside the "deploy_window".  With "require_approval" it
 * does not happen at all: a pending row in mlops.deploy_requests takes
 * its place (superseding the project's older waiting requests), and
 * mlops.approve carries it out, or marks it approved for the background
 * worker to carry out when the window opens (GovernanceDeployApproved).
 * A rollback never waits: no approval, no window, no floor.
 *
 * Stages: a model starts at "none"; mlops.set_stage moves it between
 * none, staging and archived; production is exactly the deployed model
 * and changes only by deploying (RegistryDeploy).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "ops/experiment.h"
#include "ops/governance.h"
#include "ops/worker.h"
#include "jsonutil.h"
#include "privileges.h"

PG_FUNCTION_INFO_V1(mlops_set_policy);
PG_FUNCTION_INFO_V1(mlops_set_stage);
PG_FUNCTION_INFO_V1(mlops_approve);
PG_FUNCTION_INFO_V1(mlops_reject);

/* a row of mlops.deploy_requests */
typedef struct DeployRequest
{
	int64		id;
	char	   *project;
	int64		model_id;
	char	   *strategy;
	char	   *status;
	Oid			requested_by;
	Oid			decided_by;
	bool		deployed;
} DeployRequest;

/*
 * Read a deploy request; NULL when it does not exist.
 */
static DeployRequest *
ReadRequest(int64 id)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	DeployRequest *r = NULL;

	SPI_connect();
	RegistryReadAsOwner("SELECT r.project, r.model_id, r.strategy, r.status, r.requested_by, "
						"r.decided_by, r.deployed_at IS NOT NULL AS deployed FROM mlops.deploy_requests r "
						"WHERE r.id OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;

		r = MemoryContextAllocZero(cxt, sizeof(DeployRequest));
		r->id = id;
		r->project = RegistryResultText(0, "project", cxt);
		r->model_id = RegistryResultInt64(0, "model_id");
		r->strategy = RegistryResultText(0, "strategy", cxt);
		r->status = RegistryResultText(0, "status", cxt);
		r->requested_by = RegistryResultOid(0, "requested_by");
		r->decided_by = RegistryResultOid(0, "decided_by");
		r->deployed = DatumGetBool(RegistryResultDatum(0, "deployed", &isnull));
	}
	SPI_finish();
	return r;
}

/*
 * Why a model may not be deployed under a policy (archived, or below a
 * min_score); NULL when it may.  *detail gets a full sentence.
 */
static char *
DeployRefusal(const Policy *policy, int64 model_id, char **detail)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	char	   *stage = NULL;
	Jsonb	   *metrics = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	*detail = NULL;
	SPI_connect();
	/* not read-only: a model train inserted in this same call is seen */
	RegistryWriteAsOwner("SELECT m.stage, m.metrics FROM mlops.models m WHERE m.id OPERATOR(pg_catalog.=) $1",
						1, types, values, NULL);
	if (SPI_processed == 1)
	{
		stage = RegistryResultText(0, "stage", cxt);
		metrics = RegistryResultJsonb(0, "metrics", cxt);
	}
	SPI_finish();
	if (stage == NULL)
		return psprintf("model " INT64_FORMAT " does not exist", model_id);
	if (strcmp(stage, "archived") == 0)
	{
		*detail = pstrdup("Archived models are never deployed; mlops.set_stage() can move it back to staging.");
		return psprintf("model " INT64_FORMAT " is archived", model_id);
	}
	for (int i = 0; i < policy->nmin_scores; i++)
	{
		const char *metric = policy->min_metrics[i];
		bool		lower = PolicyLowerIsBetter(metric);
		JsonbValue *v = JsonGet(&metrics->root, metric);
		double		value;

		if (v == NULL || v->type != jbvNumeric || !JsonValueNumber(v, &value) || isnan(value))
		{
			*detail = psprintf("The policy's min_score needs %s %s %g, and the model has no %s.",
							   metric, lower ? "<=" : ">=", policy->min_values[i], metric);
			return psprintf("model " INT64_FORMAT " has no metric \"%s\" for min_score", model_id, metric);
		}
		if (lower ? value > policy->min_values[i] : value < policy->min_values[i])
		{
			*detail = psprintf("The policy's min_score needs %s %s %g; the model has %g.",
							   metric, lower ? "<=" : ">=", policy->min_values[i], value);
			return psprintf("model " INT64_FORMAT " does not meet min_score %s", model_id, metric);
		}
	}
	return NULL;
}

/*
 * Deploy, recording it; the approved requests still waiting for the
 * window are superseded by it (but request_id, which it carries out).
 */
static void
DeployNow(const RegistryProject *proj, int64 model_id, const char *strategy, int64 request_id)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(proj->name);
	values[1] = Int64GetDatum(request_id);
	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.deploy_requests r SET "
						 "status = CASE WHEN r.id OPERATOR(pg_catalog.=) $2 THEN r.status ELSE 'superseded' END, "
						 "deployed_at = CASE WHEN r.id OPERATOR(pg_catalog.=) $2 "
						 "THEN pg_catalog.clock_timestamp() END, "
						 "decided_at = CASE WHEN r.id OPERATOR(pg_catalog.=) $2 THEN r.decided_at "
						 "ELSE pg_catalog.clock_timestamp() END "
						 "WHERE r.project OPERATOR(pg_catalog.=) $1 AND r.status OPERATOR(pg_catalog.=) 'approved' "
						 "AND r.deployed_at IS NULL", 2, types, values, NULL);
	SPI_finish();
	RegistryDeploy(proj->id, model_id, strategy);
}

/*
 * Create a pending deploy request, superseding the project's requests
 * still waiting; returns its id.
 */
static int64
RequestDeploy(const RegistryProject *proj, int64 model_id, const char *strategy, const char *reason)
{
	Oid			types[5] = {TEXTOID, INT8OID, TEXTOID, REGROLEOID, TEXTOID};
	Datum		values[5];
	int64		id;
	char	   *superseded;

	values[0] = CStringGetTextDatum(proj->name);
	values[1] = Int64GetDatum(model_id);
	values[2] = CStringGetTextDatum(strategy);
	values[3] = ObjectIdGetDatum(GetUserId());
	values[4] = CStringGetTextDatum(reason);
	SPI_connect();
	RegistryWriteAsOwner("WITH old AS (UPDATE mlops.deploy_requests r SET status = 'superseded', "
						 "decided_at = pg_catalog.clock_timestamp() "
						 "WHERE r.project OPERATOR(pg_catalog.=) $1 AND (r.status OPERATOR(pg_catalog.=) 'pending' "
						 "OR (r.status OPERATOR(pg_catalog.=) 'approved' AND r.deployed_at IS NULL)) RETURNING r.id) "
						 "INSERT INTO mlops.deploy_requests (project, model_id, strategy, requested_by, reason) "
						 "VALUES ($1, $2, $3, $4, $5) RETURNING id, "
						 "(SELECT COALESCE(pg_catalog.jsonb_agg(old.id), '[]'::pg_catalog.jsonb) FROM old)::pg_catalog.text AS superseded",
						 5, types, values, NULL);
	id = RegistryResultInt64(0, "id");
	superseded = RegistryResultText(0, "superseded", CurrentMemoryContext);
	SPI_finish();
	RegistryLogEvent("deploy_requested", proj->name, model_id,
					 psprintf("{\"request_id\": " INT64_FORMAT ", \"strategy\": \"%s\", \"superseded\": %s}",
							  id, strategy, superseded));
	return id;
}

/*
 * The error or notice of a deploy outside the project's window.
 */
static void
ReportOutsideWindow(const RegistryProject *proj, const Policy *policy, int elevel)
{
	ereport(elevel,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("project \"%s\" is outside its deploy window %s", proj->name, policy->window->text),
			 errdetail("Deploys other than a rollback happen only inside the window of the project's policy."),
			 errhint("Deploy inside the window, or change \"deploy_window\" with mlops.set_policy().")));
}

/*
 * The gate of every deploy of proj (locked by the caller for explicit
 * deploys): a rollback deploys at once; other strategies must pass the
 * policy's floors, make a deploy request when it requires approval, and
 * be inside its window.  An explicit deploy (mlops.deploy) that fails a
 * check is an error; an automatic one (train, retrain) is only not done,
 * with a NOTICE.  reason (why the deploy was asked for) goes into the
 * request.  The caller records the deploy event.
 */
GovernanceOutcome
GovernanceDeploy(const RegistryProject *proj, const Policy *policy, int64 model_id,
				 const char *strategy, const char *reason, bool explicit_deploy, int64 *request_id)
{
	char	   *detail;
	char	   *refusal;

	*request_id = 0;
	if (strcmp(strategy, "rollback") == 0)
	{
		DeployNow(proj, model_id, strategy, 0);
		return GOVERNANCE_DEPLOYED;
	}
	refusal = DeployRefusal(policy, model_id, &detail);
	if (refusal != NULL)
	{
		ereport(explicit_deploy ? ERROR : NOTICE,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s%s", explicit_deploy ? "" : "not deployed: ", refusal),
				 detail ? errdetail_internal("%s", detail) : 0));
		return GOVERNANCE_REFUSED;
	}
	if (policy->require_approval)
	{
		*request_id = RequestDeploy(proj, model_id, strategy, reason);
		ereport(NOTICE,
				(errmsg("deploy request " INT64_FORMAT " for model " INT64_FORMAT " waits for an approval",
						*request_id, model_id),
				 errhint("A member of the approvers calls mlops.approve(" INT64_FORMAT ").", *request_id)));
		return GOVERNANCE_PENDING;
	}
	if (!PolicyWindowOpen(policy->window))
	{
		ReportOutsideWindow(proj, policy, explicit_deploy ? ERROR : NOTICE);
		return GOVERNANCE_REFUSED;
	}
	DeployNow(proj, model_id, strategy, 0);
	return GOVERNANCE_DEPLOYED;
}

/*
 * mlops.set_policy(project, policy): merge keys into the project's policy
 * (a JSON null removes a key); returns the policy.  Needs admin.
 */
Datum
mlops_set_policy(PG_FUNCTION_ARGS)
{
	RegistryProject *proj;
	Jsonb	   *merged;
	Policy		parsed;
	Oid			types[3] = {TEXTOID, JSONBOID, REGROLEOID};
	Datum		values[3];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and policy must not be NULL")));
	proj = RegistryGetProject(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	PrivilegeCheck(proj->id, proj->name, PRIV_ADMIN);
	RegistryLockProject(proj);
	merged = PolicyMerge(PolicyLoad(proj->name), PG_GETARG_JSONB_P(1));
	PolicyParse(merged, &parsed);
	if (parsed.approvers != NULL && !OidIsValid(get_role_oid(parsed.approvers, true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("policy \"approvers\" names role \"%s\", which does not exist", parsed.approvers)));

	values[0] = CStringGetTextDatum(proj->name);
	values[1] = JsonbPGetDatum(merged);
	values[2] = ObjectIdGetDatum(GetUserId());
	SPI_connect();
	RegistryWriteAsOwner("INSERT INTO mlops.policies (project, policy, updated_by) VALUES ($1, $2, $3) "
						 "ON CONFLICT (project) DO UPDATE SET policy = excluded.policy, "
						 "updated_at = pg_catalog.now(), updated_by = excluded.updated_by",
						 3, types, values, NULL);
	SPI_finish();
	/* backends caching the project's serving policy (prediction log) reread it */
	CacheInvalidateRelcacheByRelid(RegistryTableOid("policies"));
	RegistryLogEvent("set_policy", proj->name, 0,
					 psprintf("{\"policy\": %s}", JsonbToCString(NULL, &merged->root, VARSIZE(merged))));
	PopActiveSnapshot();
	PG_RETURN_JSONB_P(merged);
}

/*
 * mlops.set_stage(model_id, stage): none, staging or archived; production
 * comes only with a deploy.  Needs deploy.
 */
Datum
mlops_set_stage(PG_FUNCTION_ARGS)
{
	int64		model_id;
	char	   *stage;
	RegistryProject *proj;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model_id and stage must not be NULL")));
	model_id = PG_GETARG_INT64(0);
	stage = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(stage, "production") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stage \"production\" is set only by deploying"),
				 errhint("Deploy the model with mlops.deploy(project, 'specific', " INT64_FORMAT ").", model_id)));
	if (strcmp(stage, "none") != 0 && strcmp(stage, "staging") != 0 && strcmp(stage, "archived") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown stage \"%s\"", stage),
				 errhint("Valid stages are \"none\", \"staging\" and \"archived\".")));
	proj = RegistryGetProjectById(RegistryModelProject(model_id));
	PrivilegeCheck(proj->id, proj->name, PRIV_DEPLOY);
	RegistryLockProject(proj);
	if (RegistryModelVersion(model_id) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model " INT64_FORMAT " does not exist", model_id)));
	if (RegistryDeployedModel(proj->id) == model_id)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("model " INT64_FORMAT " is deployed in project \"%s\": its stage is production",
						model_id, proj->name),
				 errhint("Deploy another model first; the deployed model then goes back to staging.")));
	if (strcmp(stage, "archived") == 0)
		ExperimentCheckNotChallenger(proj, model_id, "archive");

	values[0] = Int64GetDatum(model_id);
	values[1] = CStringGetTextDatum(stage);
	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.models m SET stage = $2 WHERE m.id OPERATOR(pg_catalog.=) $1",
						 2, types, values, NULL);
	SPI_finish();
	CacheInvalidateRelcacheByRelid(RegistryTableOid("models"));
	RegistryLogEvent("set_stage", proj->name, model_id, psprintf("{\"stage\": \"%s\"}", stage));
	PopActiveSnapshot();
	PG_RETURN_VOID();
}

/*
 * Record a decision on a request: status, decider, time and comment.
 */
static void
DecideRequest(int64 id, const char *status, const char *comment)
{
	Oid			types[4] = {INT8OID, TEXTOID, REGROLEOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', comment ? ' ' : 'n'};

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(status);
	values[2] = ObjectIdGetDatum(GetUserId());
	values[3] = comment ? CStringGetTextDatum(comment) : (Datum) 0;
	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.deploy_requests r SET status = $2, decided_by = $3, "
						 "decided_at = pg_catalog.clock_timestamp(), comment = $4 "
						 "WHERE r.id OPERATOR(pg_catalog.=) $1", 4, types, values, nulls);
	SPI_finish();
}

/*
 * The checks of approve and reject: the request exists, the caller holds
 * approve on its project and belongs to the policy's approvers, and it is
 * still pending (read again after locking the project, which stays
 * locked).  Fills proj and policy.
 */
static DeployRequest *
CheckDecision(int64 id, RegistryProject **proj, Policy *policy)
{
	DeployRequest *r = ReadRequest(id);
	Oid			approvers;

	if (r == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("deploy request " INT64_FORMAT " does not exist", id)));
	*proj = RegistryGetProject(r->project, false);
	PrivilegeCheck((*proj)->id, (*proj)->name, PRIV_APPROVE);
	RegistryLockProject(*proj);
	r = ReadRequest(id);
	if (strcmp(r->status, "pending") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("deploy request " INT64_FORMAT " is %s, not pending", id, r->status)));
	PolicyForProject((*proj)->name, NULL, policy);
	if (policy->approvers != NULL)
	{
		approvers = get_role_oid(policy->approvers, true);
		if (!OidIsValid(approvers) || !is_member_of_role(GetUserId(), approvers))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("role \"%s\" is not a member of the approvers of project \"%s\"",
							GetUserNameFromId(GetUserId(), false), (*proj)->name),
					 errdetail("The project's policy names role \"%s\" as its approvers.", policy->approvers)));
	}
	return r;
}

/*
 * mlops.approve(request_id, comment): approve a pending deploy request of
 * someone else and deploy it (inside the window; else the background
 * worker deploys it when the window opens).  Needs approve, and
 * membership in the policy's approvers when it names them.
 */
Datum
mlops_approve(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RegistryProject *proj;
	Policy		policy;
	DeployRequest *r;
	char	   *refusal;
	char	   *detail;
	Datum		values[4];
	bool		nulls[4] = {0};
	int64		previous;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("request_id must not be NULL")));
	r = CheckDecision(PG_GETARG_INT64(0), &proj, &policy);
	if (r->requested_by == GetUserId())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot approve its own deploy request " INT64_FORMAT,
						GetUserNameFromId(GetUserId(), false), r->id),
				 errdetail("A deploy request needs the approval of a second role (four eyes).")));
	refusal = DeployRefusal(&policy, r->model_id, &detail);
	if (refusal != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s", refusal),
				 detail ? errdetail_internal("%s", detail) : 0,
				 errhint("Reject the request with mlops.reject(" INT64_FORMAT ").", r->id)));

	DecideRequest(r->id, "approved", PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	RegistryLogEvent("approve", proj->name, r->model_id,
					 psprintf("{\"request_id\": " INT64_FORMAT "}", r->id));
	if (PolicyWindowOpen(policy.window))
	{
		previous = RegistryDeployedModel(proj->id);
		DeployNow(proj, r->model_id, r->strategy, r->id);
		RegistryLogEvent("deploy", proj->name, r->model_id,
						 psprintf("{\"strategy\": \"%s\", \"request_id\": " INT64_FORMAT
								  ", \"previous_model_id\": %s}", r->strategy, r->id,
								  previous ? psprintf(INT64_FORMAT, previous) : "null"));
	}
	else
		ereport(NOTICE,
				(errmsg("deploy request " INT64_FORMAT " is approved; model " INT64_FORMAT
						" is deployed when the deploy window %s opens", r->id, r->model_id,
						policy.window->text),
				 errdetail("The background worker carries out approved requests inside the window.")));
	PopActiveSnapshot();

	values[0] = CStringGetTextDatum(proj->name);
	values[1] = Int64GetDatum(r->model_id);
	values[2] = Int32GetDatum(RegistryModelVersion(r->model_id));
	values[3] = CStringGetTextDatum(r->strategy);
	SetSingleFuncCall(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * mlops.reject(request_id, comment): reject a pending deploy request.
 * Needs what approving needs, but the requester may reject (withdraw) its
 * own request.
 */
Datum
mlops_reject(PG_FUNCTION_ARGS)
{
	RegistryProject *proj;
	Policy		policy;
	DeployRequest *r;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("request_id must not be NULL")));
	r = CheckDecision(PG_GETARG_INT64(0), &proj, &policy);
	DecideRequest(r->id, "rejected", PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	RegistryLogEvent("reject", proj->name, r->model_id,
					 psprintf("{\"request_id\": " INT64_FORMAT "}", r->id));
	PopActiveSnapshot();
	PG_RETURN_VOID();
}

/*
 * Carry out one approved request if its window is open, as the role that
 * approved it; a request whose project or model is gone, or whose model
 * no longer passes the policy, expires.
 */
static void
DeployApproved(const DeployRequest *r)
{
	RegistryProject *proj = RegistryGetProject(r->project, true);
	Policy		policy;
	char	   *detail;
	char	   *refusal = NULL;
	Oid			save_uid;
	int			save_sec;
	int64		previous;

	if (proj != NULL)
	{
		PolicyForProject(proj->name, NULL, &policy);
		if (!PolicyWindowOpen(policy.window))
			return;
		refusal = DeployRefusal(&policy, r->model_id, &detail);
	}
	GetUserIdAndSecContext(&save_uid, &save_sec);
	SetUserIdAndSecContext(r->decided_by, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (proj == NULL || refusal != NULL)
	{
		DecideRequest(r->id, "expired", NULL);
		RegistryLogEvent("deploy_request_expired", r->project, r->model_id,
						 psprintf("{\"request_id\": " INT64_FORMAT ", \"reason\": \"%s\"}", r->id,
								  proj == NULL ? "the project was dropped" : "the model no longer passes the policy"));
	}
	else
	{
		RegistryLockProject(proj);
		previous = RegistryDeployedModel(proj->id);
		DeployNow(proj, r->model_id, r->strategy, r->id);
		RegistryLogEvent("deploy", proj->name, r->model_id,
						 psprintf("{\"strategy\": \"%s\", \"request_id\": " INT64_FORMAT
								  ", \"previous_model_id\": %s, \"by\": \"worker\"}", r->strategy, r->id,
								  previous ? psprintf(INT64_FORMAT, previous) : "null"));
		PopActiveSnapshot();
	}
	SetUserIdAndSecContext(save_uid, save_sec);
}

/*
 * Deploy one approved request (arg: its id) unless it was deployed or
 * changed meanwhile.
 */
static void
DeployApprovedRequest(void *arg)
{
	DeployRequest *r = ReadRequest(*(int64 *) arg);

	if (r != NULL && strcmp(r->status, "approved") == 0 && !r->deployed)
		DeployApproved(r);
}

/*
 * The background worker's part: deploy the approved requests whose
 * window is open (none before ALTER EXTENSION mlops UPDATE made the
 * table).  Each in a subtransaction, so one request that fails (a policy
 * made invalid by a dropped role...) leaves a WARNING and the others go
 * on.
 */
void
GovernanceDeployApproved(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64	   *ids;
	int			n;

	/* an installation not yet updated to 0.2.0 has no requests */
	if (!OidIsValid(RegistryTableOid("deploy_requests")))
		return;
	SPI_connect();
	RegistryReadAsOwner("SELECT r.id FROM mlops.deploy_requests r WHERE r.status OPERATOR(pg_catalog.=) 'approved' "
						"AND r.deployed_at IS NULL ORDER BY r.id", 0, NULL, NULL, NULL);
	n = (int) SPI_processed;
	ids = MemoryContextAlloc(cxt, sizeof(int64) * Max(1, n));
	for (int i = 0; i < n; i++)
		ids[i] = RegistryResultInt64(i, "id");
	SPI_finish();

	for (int i = 0; i < n; i++)
		WorkerRunIsolated(DeployApprovedRequest, &ids[i],
						  psprintf("deploy approved request " INT64_FORMAT, ids[i]));
}
