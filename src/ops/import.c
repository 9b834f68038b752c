/*-------------------------------------------------------------------------
 *
 * import.c
 *	  mlops.import_model and mlops.import_xgboost: registering a model
 *	  exported by another database (export.c), or serving a booster trained
 *	  outside.
 *
 * Import re-serializes the model into the stored form, inserts the row and
 * then loads it through the model cache and the profile reader, the same
 * checks every stored model passes: a document with mismatched sizes or a
 * damaged model is refused (the insert is rolled back with the error).  An
 * XGBoost model is compiled by mlops before libxgboost reads it
 * (XgboostImportModel).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"

#include "jsonutil.h"
#include "ops/export.h"
#include "ops/lineage.h"
#include "serve/forest.h"
#include "train/featurize.h"
#include "train/linear.h"
#include "serve/model.h"
#include "serve/model_cache.h"
#include "privileges.h"
#include "monitor/profile.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_import_model);
PG_FUNCTION_INFO_V1(mlops_import_xgboost);

/* what an import registers */
typedef struct ImportSpec
{
	char	   *project;
	MlopsTask	task;
	char	   *target;
	const char *deploy;			/* "auto", "always" or "never" */
	const char *event;			/* "import_model" or "import_xgboost" */
	RegistryModelRow row;
	int64		parent_model_id;	/* named by the document; kept if it exists */
	Jsonb	   *annotations;	/* {"description", "tags"} or NULL */
} ImportSpec;

/* the members of XGBoost's JSON model that are arrays of floats */
static const char *const xgboost_float_arrays[] = {
	"base_weights", "loss_changes", "split_conditions", "sum_hessian", "weight_drop"
};

static void XgboostJsonAppend(StringInfo buf, JsonbContainer *c, bool floats);

/*
 * Append one value of XGBoost's JSON model; floats says that a number is
 * a float.
 */
static void
XgboostJsonValue(StringInfo buf, const JsonbValue *v, bool floats)
{
	char	   *num;

	switch (v->type)
	{
		case jbvBinary:
			XgboostJsonAppend(buf, v->val.binary.data, floats);
			break;
		case jbvNumeric:
			num = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
			appendStringInfoString(buf, num);
			if (floats && strpbrk(num, ".eE") == NULL)
				appendStringInfoString(buf, ".0");
			break;
		case jbvString:
			escape_json(buf, JsonValueToCString(v));
			break;
		case jbvBool:
			appendStringInfoString(buf, v->val.boolean ? "true" : "false");
			break;
		default:
			appendStringInfoString(buf, "null");
			break;
	}
}

/*
 * Append XGBoost's JSON model (or a part of it) from its jsonb form.
 * jsonb keeps numbers as decimals, so 1.0 reads back as 1, but libxgboost
 * tells floats from integers by their text: every number of a float array
 * is written with a decimal point or an exponent.
 */
static void
XgboostJsonAppend(StringInfo buf, JsonbContainer *c, bool floats)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		first = true;
	bool		member_floats = false;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				appendStringInfoChar(buf, '[');
				break;
			case WJB_BEGIN_OBJECT:
				appendStringInfoChar(buf, '{');
				break;
			case WJB_END_ARRAY:
				appendStringInfoChar(buf, ']');
				break;
			case WJB_END_OBJECT:
				appendStringInfoChar(buf, '}');
				break;
			case WJB_KEY:
				if (!first)
					appendStringInfoString(buf, ", ");
				first = false;
				escape_json(buf, JsonValueToCString(&v));
				appendStringInfoString(buf, ": ");
				member_floats = false;
				for (int k = 0; k < lengthof(xgboost_float_arrays); k++)
					member_floats |= strlen(xgboost_float_arrays[k]) == v.val.string.len &&
						memcmp(xgboost_float_arrays[k], v.val.string.val, v.val.string.len) == 0;
				break;
			case WJB_VALUE:
				XgboostJsonValue(buf, &v, member_floats);
				break;
			case WJB_ELEM:
				if (!first)
					appendStringInfoString(buf, ", ");
				first = false;
				XgboostJsonValue(buf, &v, floats);
				break;
			default:
				break;
		}
	}
}

/*
 * XGBoost's JSON model as text libxgboost reads, from its jsonb form.
 */
static char *
XgboostJsonText(JsonbContainer *model)
{
	StringInfoData buf;

	initStringInfo(&buf);
	XgboostJsonAppend(&buf, model, false);
	return buf.data;
}

/*
 * Error context of XgboostImportModel: which document is checked.
 */
static void
XgboostImportContext(void *arg)
{
	errcontext("checking %s before libxgboost reads it", (const char *) arg);
}

/*
 * The stored UBJSON of an XGBoost model document, converted by libxgboost
 * after the compiler has checked the document for nfeatures features and
 * nclasses classes (libxgboost trusts parts of a model, see
 * forest_jsonb.c).  what names the document in errors.
 */
static bytea *
XgboostImportModel(JsonbContainer *model, int nfeatures, int nclasses, const char *what)
{
	ErrorContextCallback errcallback;
	char	   *json;

	errcallback.callback = XgboostImportContext;
	errcallback.arg = unconstify(char *, what);
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	ForestCheckXgboostJsonb(model, nfeatures, nclasses);
	error_context_stack = errcallback.previous;
	json = XgboostJsonText(model);
	return XgbConvertModel(json, strlen(json), "ubj", what);
}

/*
 * Refuse a document: what is wrong with it, in a full sentence.
 */
static void pg_attribute_noreturn()
DocumentInvalid(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("document is not a valid exported model"),
			 errdetail("%s", detail)));
}

/*
 * A member of a document object: of the given jsonb type (jbvBinary for an
 * object or array), or NULL when absent or null and optional.
 */
static JsonbValue *
DocumentMember(JsonbContainer *obj, const char *key, enum jbvType type, bool optional)
{
	JsonbValue *v = JsonGet(obj, key);

	if ((v == NULL || v->type == jbvNull) && optional)
		return NULL;
	if (v == NULL)
		DocumentInvalid(psprintf("It has no \"%s\".", key));
	if (v->type != type)
		DocumentInvalid(psprintf("Its \"%s\" is %s.", key, JsonTypeName(v)));
	return v;
}

/* a string member of a document object */
static char *
DocumentString(JsonbContainer *obj, const char *key)
{
	return JsonValueToCString(DocumentMember(obj, key, jbvString, false));
}

/* an object or array member of a document object, as a jsonb datum */
static Jsonb *
DocumentJsonb(JsonbContainer *obj, const char *key)
{
	return JsonbValueToJsonb(DocumentMember(obj, key, jbvBinary, false));
}

/*
 * A linear model from its exported JSON (LinearToJson), serialized in the
 * stored form; the sizes are checked against the arrays.
 */
static bytea *
LinearFromJson(JsonbContainer *obj)
{
	LinearModel lm = {0};
	JsonbContainer *coefs = DocumentMember(obj, "coefficients", jbvBinary, false)->val.binary.data;
	JsonbContainer *icpt = DocumentMember(obj, "intercepts", jbvBinary, false)->val.binary.data;

	lm.kind = (LinearKind) JsonGetInt(obj, "kind");
	lm.nfeatures = JsonGetInt(obj, "nfeatures");
	lm.nclasses = JsonGetInt(obj, "nclasses");
	lm.noutputs = JsonGetInt(obj, "noutputs");
	lm.iterations = JsonGetInt(obj, "iterations");
	lm.converged = DocumentMember(obj, "converged", jbvBool, false)->val.boolean;
	if (lm.nfeatures < 1 || lm.noutputs < 1 || lm.noutputs > MLOPS_MAX_CLASSES ||
		lm.nfeatures > (int) (MaxAllocSize / sizeof(double) / lm.noutputs) ||
		!JsonContainerIsArray(coefs) || JsonContainerSize(coefs) != lm.noutputs ||
		!JsonContainerIsArray(icpt) || JsonContainerSize(icpt) != lm.noutputs)
		DocumentInvalid(psprintf("Its linear model has %d outputs of %d features, but %d coefficient arrays and %d intercepts.",
								 lm.noutputs, lm.nfeatures, JsonContainerSize(coefs), JsonContainerSize(icpt)));
	lm.coef = palloc(sizeof(double) * lm.noutputs * (size_t) lm.nfeatures);
	lm.intercept = palloc(sizeof(double) * lm.noutputs);
	for (int k = 0; k < lm.noutputs; k++)
	{
		JsonbValue *row = JsonArrayElement(coefs, k);
		JsonbContainer *arr = row->type == jbvBinary ? row->val.binary.data : NULL;

		if (arr == NULL || !JsonContainerIsArray(arr) || JsonContainerSize(arr) != lm.nfeatures)
			DocumentInvalid(psprintf("Coefficient array %d of its linear model does not have %d numbers.",
									 k + 1, lm.nfeatures));
		for (int j = 0; j < lm.nfeatures; j++)
			if (!JsonValueNumber(JsonArrayElement(arr, j), &lm.coef[(size_t) k * lm.nfeatures + j]) ||
				!isfinite(lm.coef[(size_t) k * lm.nfeatures + j]))
				DocumentInvalid(psprintf("Coefficient %d of output %d of its linear model is not a finite number.",
										 j + 1, k + 1));
		if (!JsonValueNumber(JsonArrayElement(icpt, k), &lm.intercept[k]) || !isfinite(lm.intercept[k]))
			DocumentInvalid(psprintf("Intercept %d of its linear model is not a finite number.", k + 1));
	}
	/* LinearDeserialize, when the cache loads it, checks kind and sizes */
	return LinearSerialize(&lm);
}

/*
 * Error context of the checks of an imported model (arg: the project).
 */
static void
ImportErrorContext(void *arg)
{
	errcontext("checking the model imported into project \"%s\"", (const char *) arg);
}

/*
 * Register an imported model: create its project or check that the
 * existing one agrees and that the user may train (and deploy) in it,
 * insert the row, check it through the loaders, deploy as asked.  Fills
 * the result row (project, model_id, version, deployed).
 */
static void
ImportRegister(ImportSpec *spec, Datum *values)
{
	RegistryProject *proj = RegistryGetProject(spec->project, true);
	int64		model_id;
	int			version;
	bool		deploy;
	int64		previous;
	MlopsModel *m;
	Oid			types[3] = {INT8OID, INT8OID, JSONBOID};
	Datum		args[3];
	StringInfoData detail;
	ErrorContextCallback errcallback;

	if (strcmp(spec->deploy, "auto") != 0 && strcmp(spec->deploy, "always") != 0 &&
		strcmp(spec->deploy, "never") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown deploy setting \"%s\"", spec->deploy),
				 errhint("Valid settings are \"auto\", \"always\" and \"never\".")));
	if (proj != NULL)
	{
		PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
		if (strcmp(spec->deploy, "never") != 0)
			PrivilegeCheck(proj->id, proj->name, PRIV_DEPLOY);
		if (proj->task != spec->task || strcmp(proj->target, spec->target) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("project \"%s\" is a %s project with target \"%s\", the model a %s model of target \"%s\"",
							proj->name, MlopsTaskName(proj->task), proj->target,
							MlopsTaskName(spec->task), spec->target),
					 errhint("Import into another project.")));
		RegistryLockProject(proj);
	}
	else
	{
		RegistryCheckProjectName(spec->project);
		proj = palloc0(sizeof(RegistryProject));
		proj->id = RegistryCreateProject(spec->project, spec->task, spec->target);
		proj->name = spec->project;
		proj->task = spec->task;
		RegistryLogEvent("create_project", spec->project, 0, NULL);
		PushActiveSnapshot(GetTransactionSnapshot());
	}

	spec->row.project_id = proj->id;
	model_id = RegistryInsertModel(&spec->row, &version);

	/* the parent, when it is a model of this project; the annotations */
	args[0] = Int64GetDatum(model_id);
	args[1] = Int64GetDatum(spec->parent_model_id);
	args[2] = spec->annotations ? JsonbPGetDatum(spec->annotations) : (Datum) 0;
	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.models m SET "
						 "parent_model_id = (SELECT a.id FROM mlops.models a "
						 "  WHERE a.id OPERATOR(pg_catalog.=) $2 "
						 "  AND a.project_id OPERATOR(pg_catalog.=) m.project_id "
						 "  AND a.id OPERATOR(pg_catalog.<) m.id), "
						 "description = $3 OPERATOR(pg_catalog.->>) 'description'::pg_catalog.text, "
						 "tags = COALESCE(CASE WHEN pg_catalog.jsonb_typeof($3 OPERATOR(pg_catalog.->) 'tags'::pg_catalog.text) "
						 "  OPERATOR(pg_catalog.=) 'object'::pg_catalog.text "
						 "  THEN $3 OPERATOR(pg_catalog.->) 'tags'::pg_catalog.text END, '{}'::pg_catalog.jsonb) "
						 "WHERE m.id OPERATOR(pg_catalog.=) $1",
						 3, types, args, spec->annotations ? "  " : "  n");
	SPI_finish();
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();

	/* everything predict and drift read back passes their checks */
	errcallback.callback = ImportErrorContext;
	errcallback.arg = spec->project;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	m = ModelCacheGet(model_id);
	if (JsonContainerSize(&spec->row.profile->root) > 0)
		ProfileFromJson(spec->row.profile, m);
	error_context_stack = errcallback.previous;

	previous = RegistryDeployedModel(proj->id);
	deploy = strcmp(spec->deploy, "always") == 0 ||
		(strcmp(spec->deploy, "auto") == 0 && previous == 0);
	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"version\": %d, \"algorithm\": \"%s\"}",
					 version, MlopsAlgorithmName(spec->row.algorithm));
	RegistryLogEvent(spec->event, proj->name, model_id, detail.data);
	if (deploy)
	{
		RegistryDeploy(proj->id, model_id, spec->event);
		resetStringInfo(&detail);
		appendStringInfo(&detail, "{\"strategy\": \"%s\", \"previous_model_id\": ", spec->event);
		if (previous)
			appendStringInfo(&detail, INT64_FORMAT "}", previous);
		else
			appendStringInfoString(&detail, "null}");
		RegistryLogEvent("deploy", proj->name, model_id, detail.data);
	}
	PopActiveSnapshot();

	values[0] = CStringGetTextDatum(proj->name);
	values[1] = Int64GetDatum(model_id);
	values[2] = Int32GetDatum(version);
	values[3] = BoolGetDatum(deploy);
}

/* the text array of a jsonb array of strings; NULL for null */
static char **
DocumentLabels(JsonbContainer *obj, int *n)
{
	JsonbValue *v = DocumentMember(obj, "labels", jbvBinary, true);
	JsonbContainer *arr;
	char	  **labels;

	*n = 0;
	if (v == NULL)
		return NULL;
	arr = v->val.binary.data;
	if (!JsonContainerIsArray(arr))
		DocumentInvalid("Its \"labels\" is not an array.");
	*n = JsonContainerSize(arr);
	labels = palloc(sizeof(char *) * Max(1, *n));
	for (int k = 0; k < *n; k++)
	{
		JsonbValue *e = JsonArrayElement(arr, k);

		if (e->type != jbvString)
			DocumentInvalid(psprintf("Label %d is not a string.", k + 1));
		labels[k] = JsonValueToCString(e);
	}
	return labels;
}

/*
 * Return the one result row of an import.
 */
static Datum
ImportResult(FunctionCallInfo fcinfo, Datum *values)
{
	TupleDesc	desc;
	bool		nulls[4] = {0};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}

/*
 * mlops.import_model(project, document, deploy): register an exported
 * model in a project (created from the document's settings when it does
 * not exist).
 */
Datum
mlops_import_model(PG_FUNCTION_ARGS)
{
	ImportSpec	spec = {0};
	Jsonb	   *doc;
	JsonbContainer *root;
	JsonbContainer *project;
	JsonbValue *version;
	JsonbValue *lineage;
	JsonbValue *v;
	double		format_version;
	Datum		values[4];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project, document and deploy must not be NULL")));
	spec.project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	doc = PG_GETARG_JSONB_P(1);
	spec.deploy = text_to_cstring(PG_GETARG_TEXT_PP(2));
	spec.event = "import_model";
	root = &doc->root;
	if (!JB_ROOT_IS_OBJECT(doc))
		DocumentInvalid("It is not a JSON object.");
	if (strcmp(DocumentString(root, "format"), EXPORT_FORMAT) != 0)
		DocumentInvalid(psprintf("Its \"format\" is \"%s\", not \"" EXPORT_FORMAT "\".",
								 DocumentString(root, "format")));
	version = DocumentMember(root, "format_version", jbvNumeric, false);
	if (JsonValueNumber(version, &format_version) && format_version != EXPORT_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("document has format_version %g", format_version),
				 errdetail("This version of mlops reads format_version %d.", EXPORT_FORMAT_VERSION),
				 errhint("Export the model again with the same version of mlops.")));

	project = DocumentMember(root, "project", jbvBinary, false)->val.binary.data;
	spec.task = MlopsTaskFromName(DocumentString(project, "task"));
	spec.target = DocumentString(project, "target");

	spec.row.algorithm = MlopsAlgorithmFromName(DocumentString(root, "algorithm"));
	spec.row.hyperparams = DocumentJsonb(root, "hyperparams");
	spec.row.preprocess = DocumentJsonb(root, "preprocess");
	spec.row.features = DocumentJsonb(root, "features");
	spec.row.labels = DocumentLabels(root, &spec.row.nlabels);
	spec.row.metrics = DocumentJsonb(root, "metrics");
	spec.row.training = DocumentJsonb(root, "training");
	spec.row.importance = DocumentJsonb(root, "importance");
	spec.row.profile = DocumentJsonb(root, "profile");
	spec.row.format = ModelFormat(spec.row.algorithm);
	if ((spec.task == TASK_CLASSIFICATION) != (spec.row.labels != NULL))
		DocumentInvalid(spec.task == TASK_CLASSIFICATION
						? "It is a classification model without labels."
						: "It is a regression model with labels.");

	v = DocumentMember(root, "model", jbvBinary, false);
	if (ALG_IS_TREE(spec.row.algorithm))
	{
		spec.row.model = XgboostImportModel(v->val.binary.data,
											FeaturizerFromJson(spec.row.features)->nfeatures,
											spec.task == TASK_CLASSIFICATION ? spec.row.nlabels : 0,
											"the document's \"model\"");
	}
	else
		spec.row.model = LinearFromJson(v->val.binary.data);

	lineage = DocumentMember(root, "lineage", jbvBinary, true);
	if (lineage != NULL)
	{
		JsonbValue *parent = DocumentMember(lineage->val.binary.data, "parent_model_id", jbvNumeric, true);
		JsonbValue *fp = DocumentMember(lineage->val.binary.data, "data_fingerprint", jbvString, true);
		double		id;

		if (parent != NULL && JsonValueNumber(parent, &id) && id >= 1 && id <= (double) PG_INT64_MAX)
			spec.parent_model_id = (int64) id;
		spec.row.data_fingerprint = fp ? JsonValueToCString(fp) : NULL;
	}
	v = DocumentMember(root, "annotations", jbvBinary, true);
	if (v != NULL)
	{
		JsonbValue *tags = DocumentMember(v->val.binary.data, "tags", jbvBinary, true);

		if (tags != NULL)
			LineageCheckTags(JsonbValueToJsonb(tags));
		DocumentMember(v->val.binary.data, "description", jbvString, true);
		spec.annotations = JsonbValueToJsonb(v);
	}

	ImportRegister(&spec, values);
	PG_RETURN_DATUM(ImportResult(fcinfo, values));
}

/*
 * The frozen transform of raw numeric columns passed through as they are
 * (NULL stays missing), in the featurizer's stored layout.
 */
static Jsonb *
PassthroughTransform(char **columns, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"format\": 1, \"nfeatures\": %d, \"columns\": [", n);
	for (int j = 0; j < n; j++)
	{
		appendStringInfoString(&buf, j ? ", {\"name\": " : "{\"name\": ");
		JsonAppendString(&buf, columns[j]);
		appendStringInfoString(&buf, ", \"kind\": \"numeric\", \"type\": \"double precision\", \"inputs\": 1}");
	}
	appendStringInfoString(&buf, "], \"inputs\": [");
	for (int j = 0; j < n; j++)
	{
		appendStringInfoString(&buf, j ? ", {\"name\": " : "{\"name\": ");
		JsonAppendString(&buf, columns[j]);
		appendStringInfo(&buf, ", \"kind\": \"numeric\", \"column\": %d, \"impute\": \"none\", \"fill\": null, "
						 "\"scale\": \"none\", \"center\": 0, \"scale_by\": 1, \"features\": [", j);
		JsonAppendString(&buf, columns[j]);
		appendStringInfoString(&buf, "]}");
	}
	appendStringInfoString(&buf, "]}");
	return JsonFromText(&buf);
}

/*
 * The objective and class count of an XGBoost JSON model
 * (learner.objective.name, learner.learner_model_param.num_class).
 */
static char *
BoosterObjective(Jsonb *model, int *num_class)
{
	JsonbValue *learner = JsonGet(&model->root, "learner");
	JsonbValue *objective = learner && learner->type == jbvBinary
		? JsonGet(learner->val.binary.data, "objective") : NULL;
	JsonbValue *param = learner && learner->type == jbvBinary
		? JsonGet(learner->val.binary.data, "learner_model_param") : NULL;
	JsonbValue *name = objective && objective->type == jbvBinary
		? JsonGet(objective->val.binary.data, "name") : NULL;
	JsonbValue *nc = param && param->type == jbvBinary
		? JsonGet(param->val.binary.data, "num_class") : NULL;

	if (name == NULL || name->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model is not a saved XGBoost booster"),
				 errdetail("It has no learner.objective.name."),
				 errhint("Pass the JSON that XGBoost's save_model('model.json') writes.")));
	*num_class = nc && nc->type == jbvString ? atoi(JsonValueToCString(nc)) : 0;
	return JsonValueToCString(name);
}

/*
 * mlops.import_xgboost(project, model, features, task, labels, target,
 * deploy): serve a booster saved by XGBoost's save_model (JSON).  The
 * features are raw numeric columns in the booster's order; multi:softmax
 * is served as multi:softprob (the same trees; predict gives the same
 * class).  Labels default to the class indices 0 .. K-1.
 */
Datum
mlops_import_xgboost(PG_FUNCTION_ARGS)
{
	ImportSpec	spec = {0};
	Jsonb	   *model;
	char	  **columns;
	int			ncolumns;
	char	   *objective;
	int			num_class;
	int			nclasses;
	StringInfoData buf;
	Datum		values[4];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project, model, features, task and deploy must not be NULL")));
	spec.project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	model = PG_GETARG_JSONB_P(1);
	columns = DatasetTextArray(PG_GETARG_ARRAYTYPE_P(2), "features", &ncolumns);
	spec.task = MlopsTaskFromName(text_to_cstring(PG_GETARG_TEXT_PP(3)));
	spec.deploy = text_to_cstring(PG_GETARG_TEXT_PP(6));
	spec.event = "import_xgboost";
	if (ncolumns < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must name at least one column")));
	for (int j = 0; j < ncolumns; j++)
		for (int i = 0; i < j; i++)
			if (strcmp(columns[i], columns[j]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("feature \"%s\" is named twice", columns[j])));

	objective = BoosterObjective(model, &num_class);
	if (spec.task == TASK_REGRESSION ? strcmp(objective, "reg:squarederror") != 0
		: strcmp(objective, "binary:logistic") != 0 &&
		strcmp(objective, "multi:softprob") != 0 && strcmp(objective, "multi:softmax") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("objective \"%s\" cannot be served as a %s model", objective,
						MlopsTaskName(spec.task)),
				 errhint("Served objectives are reg:squarederror for regression, binary:logistic, multi:softprob and multi:softmax for classification.")));
	nclasses = spec.task == TASK_REGRESSION ? 0
		: strcmp(objective, "binary:logistic") == 0 ? 2 : num_class;
	if (spec.task == TASK_CLASSIFICATION && nclasses < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("booster with objective \"%s\" has num_class %d", objective, num_class)));

	if (!PG_ARGISNULL(4))
	{
		if (spec.task == TASK_REGRESSION)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a regression model has no labels")));
		spec.row.labels = DatasetTextArray(PG_GETARG_ARRAYTYPE_P(4), "labels", &spec.row.nlabels);
		if (spec.row.nlabels != nclasses)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("labels has %d elements, the booster %d classes", spec.row.nlabels, nclasses)));
	}
	else if (spec.task == TASK_CLASSIFICATION)
	{
		spec.row.nlabels = nclasses;
		spec.row.labels = palloc(sizeof(char *) * nclasses);
		for (int k = 0; k < nclasses; k++)
			spec.row.labels[k] = psprintf("%d", k);
	}
	spec.target = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	if (spec.target == NULL)
	{
		RegistryProject *proj = RegistryGetProject(spec.project, true);

		spec.target = proj ? proj->target : "target";
	}

	/* the stored form: UBJSON through libxgboost, softmax served as softprob */
	if (strcmp(objective, "multi:softmax") == 0)
	{
		Datum		keys[3] = {CStringGetTextDatum("learner"), CStringGetTextDatum("objective"),
		CStringGetTextDatum("name")};
		ArrayType  *path = construct_array(keys, 3, TEXTOID, -1, false, TYPALIGN_INT);
		Jsonb	   *softprob = DatumGetJsonbP(DirectFunctionCall4(jsonb_set, JsonbPGetDatum(model),
																 PointerGetDatum(path),
																 DirectFunctionCall1(jsonb_in, CStringGetDatum("\"multi:softprob\"")),
																 BoolGetDatum(false)));

		model = softprob;
	}
	spec.row.model = XgboostImportModel(&model->root, ncolumns, nclasses, "model");
	spec.row.algorithm = ALG_XGBOOST;
	spec.row.format = ModelFormat(ALG_XGBOOST);
	spec.row.features = PassthroughTransform(columns, ncolumns);
	spec.row.hyperparams = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	spec.row.preprocess = spec.row.hyperparams;
	spec.row.metrics = spec.row.hyperparams;
	spec.row.importance = spec.row.hyperparams;
	spec.row.profile = spec.row.hyperparams;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"imported\": \"xgboost\", \"objective\": ");
	JsonAppendString(&buf, objective);
	appendStringInfoString(&buf, ", \"relation\": null, \"target\": ");
	JsonAppendString(&buf, spec.target);
	appendStringInfoString(&buf, ", \"columns\": ");
	JsonAppendStrings(&buf, columns, ncolumns);
	appendStringInfo(&buf, ", \"labels_numeric\": %s}", PG_ARGISNULL(4) ? "true" : "false");
	spec.row.training = JsonFromText(&buf);

	ImportRegister(&spec, values);
	PG_RETURN_DATUM(ImportResult(fcinfo, values));
}
