/*-------------------------------------------------------------------------
 *
 * forest_jsonb.c
 *	  Feeding the XGBoost model compiler from a jsonb document.
 *
 * Imports hand mlops an XGBoost model as JSON, which libxgboost converts to
 * the stored UBJSON.  libxgboost trusts some of what a model says about
 * its trees (a node's parent, the categorical split arrays), so a document
 * that lies about them could crash the backend inside libxgboost.  Imports
 * therefore run the compiler on the document first, through this walk,
 * which sends the compiler the same events the UBJSON reader
 * (forest_ubjson.c) sends for the same document.  Booleans are numbers, as
 * UBJSON's T and F markers are.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

#include "serve/forest_internal.h"

/* deepest nesting followed (the model document needs 8) */
#define JSONB_MAX_DEPTH 64

/*
 * Send the compiler one scalar.
 */
static void
JsonbScalarEvent(CompileState *s, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			ForestCompileScalar(s, SCALAR_NULL, 0, NULL, 0);
			break;
		case jbvString:
			ForestCompileScalar(s, SCALAR_STRING, 0, v->val.string.val, v->val.string.len);
			break;
		case jbvBool:
			ForestCompileScalar(s, SCALAR_NUMBER, v->val.boolean ? 1 : 0, NULL, 0);
			break;
		case jbvNumeric:
			ForestCompileScalar(s, SCALAR_NUMBER,
								DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
																   NumericGetDatum(v->val.numeric))),
								NULL, 0);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/*
 * Walk a jsonb document (an object), sending the compiler an event for each
 * object start and end, member, array element and scalar, in the order the
 * UBJSON reader sends them.
 */
void
ForestJsonbEvents(CompileState *s, JsonbContainer *doc)
{
	JsonbIterator *it = JsonbIteratorInit(doc);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		in_array[JSONB_MAX_DEPTH + 1];
	int			depth = 0;

	if (!JsonContainerIsObject(doc))
		CORRUPTED("It is not a JSON object.");
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
			case WJB_BEGIN_ARRAY:
				if (depth == JSONB_MAX_DEPTH)
					CORRUPTED("It nests deeper than %d levels.", JSONB_MAX_DEPTH);
				/* a container in an array is an element (a member's key was pushed) */
				if (depth > 0 && in_array[depth])
					ForestPathPush(s, KEY_ELEMENT);
				in_array[++depth] = tok == WJB_BEGIN_ARRAY;
				if (tok == WJB_BEGIN_OBJECT)
					ForestCompileObjectStart(s);
				break;
			case WJB_END_OBJECT:
			case WJB_END_ARRAY:
				if (tok == WJB_END_OBJECT)
					ForestCompileObjectEnd(s);
				if (--depth > 0)
					ForestCompilePop(s);
				break;
			case WJB_KEY:
				ForestCompileFieldStart(s, v.val.string.val, v.val.string.len);
				break;
			case WJB_VALUE:
				JsonbScalarEvent(s, &v);
				ForestCompilePop(s);
				break;
			case WJB_ELEM:
				ForestPathPush(s, KEY_ELEMENT);
				JsonbScalarEvent(s, &v);
				ForestCompilePop(s);
				break;
			default:
				elog(ERROR, "unexpected jsonb iterator token %d", (int) tok);
		}
	}
}
