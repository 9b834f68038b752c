/*-------------------------------------------------------------------------
 *
 * privileges.c
 *	  Per-project privileges: mlops.grant, mlops.revoke,
 *	  mlops.has_project_privilege, and the check every entry point makes.
 *
 * A project belongs to the role that created it (mlops.projects.created_by,
 * an OID): its members and superusers hold every privilege.  Other roles
 * hold what mlops.project_grants gives them or PUBLIC (grantee 0).  The
 * privileges are predict, train, deploy, approve and admin; admin implies
 * the others and alone may grant and revoke.  Role membership counts as
 * for table privileges (has_privs_of_role: inherited membership).
 *
 * Row-level security calls mlops.has_project_privilege for every row of
 * the registry, so what a role holds in a project is cached per backend:
 * one hash lookup per row.  The cache is emptied when project_grants or
 * projects change (a relcache invalidation that grant, revoke, creating
 * and dropping a project send, delivered at commit) and when roles or
 * role memberships change (syscache callbacks on pg_authid and
 * pg_auth_members).  Each emptying moves a generation number, which
 * predict's call sites compare to skip the check on their next row.
 * Invalidations are taken in as PostgreSQL takes in its own catalog
 * changes: at the start of a transaction and when a relation is first
 * locked in it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "jsonutil.h"
#include "privileges.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_has_project_privilege_id);
PG_FUNCTION_INFO_V1(mlops_has_project_privilege_name);
PG_FUNCTION_INFO_V1(mlops_grant);
PG_FUNCTION_INFO_V1(mlops_revoke);

static const struct
{
	const char *name;
	ProjectPrivilege privilege;
}			privilege_names[] =
{
	{"predict", PRIV_PREDICT},
	{"train", PRIV_TRAIN},
	{"deploy", PRIV_DEPLOY},
	{"approve", PRIV_APPROVE},
	{"admin", PRIV_ADMIN},
};

/* what a role holds in a project */
typedef struct PrivilegeKey
{
	int64		project_id;
	Oid			roleid;
} PrivilegeKey;

typedef struct PrivilegeEntry
{
	PrivilegeKey key;			/* hash key */
	uint32		held;			/* ProjectPrivilege bits */
} PrivilegeEntry;

/* a project's id by name; 0 for none */
typedef struct ProjectIdEntry
{
	char		name[NAMEDATALEN];	/* hash key */
	int64		project_id;
} ProjectIdEntry;

static MemoryContext priv_cxt = NULL;
static HTAB *held_cache = NULL;
static HTAB *id_cache = NULL;
static bool priv_stale = true;
static uint64 priv_generation = 1;
static Oid	grants_relid = InvalidOid;
static Oid	projects_relid = InvalidOid;

/*
 * Relcache callback: project_grants or projects changed (or everything was
 * reset).
 */
static void
PrivilegeInvalidateRelation(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == grants_relid || relid == projects_relid)
	{
		priv_stale = true;
		priv_generation++;
	}
}

/*
 * Syscache callback: a role or a role membership changed.
 */
static void
PrivilegeInvalidateRoles(Datum arg, int cacheid, uint32 hashvalue)
{
	priv_stale = true;
	priv_generation++;
}

/*
 * Register the callbacks on first use and empty the caches when stale.
 */
static void
PrivilegeSync(void)
{
	HASHCTL		ctl;

	if (priv_cxt == NULL)
	{
		priv_cxt = AllocSetContextCreate(CacheMemoryContext, "mlops privileges",
										 ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(PrivilegeInvalidateRelation, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, PrivilegeInvalidateRoles, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, PrivilegeInvalidateRoles, (Datum) 0);
	}
	while (priv_stale)
	{
		priv_stale = false;
		/* the extension may have been dropped and created again */
		grants_relid = RegistryTableOid("project_grants");
		projects_relid = RegistryTableOid("projects");
		MemoryContextReset(priv_cxt);
		ctl.keysize = sizeof(PrivilegeKey);
		ctl.entrysize = sizeof(PrivilegeEntry);
		ctl.hcxt = priv_cxt;
		held_cache = hash_create("mlops project privileges", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(ProjectIdEntry);
		id_cache = hash_create("mlops project ids", 64, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
}

/*
 * The privilege a name stands for; unknown names are an error.
 */
static ProjectPrivilege
PrivilegeFromName(const char *name)
{
	for (int i = 0; i < lengthof(privilege_names); i++)
		if (strcmp(name, privilege_names[i].name) == 0)
			return privilege_names[i].privilege;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown project privilege \"%s\"", name),
			 errhint("Valid privileges are \"predict\", \"train\", \"deploy\", \"approve\" and \"admin\".")));
	pg_unreachable();
}

/*
 * The name of a single privilege.
 */
static const char *
PrivilegeName(ProjectPrivilege privilege)
{
	for (int i = 0; i < lengthof(privilege_names); i++)
		if (privilege_names[i].privilege == privilege)
			return privilege_names[i].name;
	elog(ERROR, "unknown project privilege %d", (int) privilege);
	pg_unreachable();
}

/*
 * Read what a role holds in a project from the registry (as the owner):
 * everything when it has the privileges of the project's owner, else the
 * union of the grants to PUBLIC and to roles whose privileges it has.
 */
static uint32
PrivilegeRead(int64 project_id, Oid roleid)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(project_id)};
	uint32		held = 0;

	SPI_connect();
	RegistryReadAsOwner("SELECT p.created_by, g.grantee, g.privilege FROM mlops.projects p "
						"LEFT JOIN mlops.project_grants g ON g.project_id OPERATOR(pg_catalog.=) p.id "
						"WHERE p.id OPERATOR(pg_catalog.=) $1",
						1, types, values, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Oid			owner = RegistryResultOid(r, "created_by");
		Oid			grantee = DatumGetObjectId(RegistryResultDatum(r, "grantee", &isnull));

		if (r == 0 && OidIsValid(owner) && has_privs_of_role(roleid, owner))
			held = PRIV_ALL;
		if (!isnull && (grantee == InvalidOid || has_privs_of_role(roleid, grantee)))
			held |= PrivilegeFromName(RegistryResultText(r, "privilege", CurrentMemoryContext));
	}
	SPI_finish();
	return (held & PRIV_ADMIN) ? PRIV_ALL : held;
}

/*
 * What the current user holds in a project (by id): superusers hold
 * everything; a project that does not exist gives nothing.
 */
static uint32
PrivilegesOfCurrentUser(int64 project_id)
{
	PrivilegeKey key;
	PrivilegeEntry *e;
	uint64		generation;
	uint32		held;

	memset(&key, 0, sizeof(key));
	key.project_id = project_id;
	key.roleid = GetUserId();
	if (superuser_arg(key.roleid))
		return PRIV_ALL;
	PrivilegeSync();
	e = hash_search(held_cache, &key, HASH_FIND, NULL);
	if (e != NULL)
		return e->held;

	generation = priv_generation;
	held = PrivilegeRead(project_id, key.roleid);
	/* reading may have taken in invalidations: then the answer is not kept */
	PrivilegeSync();
	if (generation == priv_generation)
	{
		e = hash_search(held_cache, &key, HASH_ENTER, NULL);
		e->held = held;
	}
	return held;
}

/*
 * A project's id by name, 0 when there is none.
 */
static int64
PrivilegeProjectId(const char *name)
{
	ProjectIdEntry *e;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	uint64		generation;
	int64		project_id = 0;

	if (strlen(name) >= NAMEDATALEN)
		return 0;				/* longer than any project name */
	PrivilegeSync();
	e = hash_search(id_cache, name, HASH_FIND, NULL);
	if (e != NULL)
		return e->project_id;

	generation = priv_generation;
	values[0] = CStringGetTextDatum(name);
	SPI_connect();
	RegistryReadAsOwner("SELECT p.id FROM mlops.projects p WHERE p.name OPERATOR(pg_catalog.=) $1",
						1, types, values, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;

		project_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	PrivilegeSync();
	if (generation == priv_generation)
	{
		e = hash_search(id_cache, name, HASH_ENTER, NULL);
		e->project_id = project_id;
	}
	return project_id;
}

/*
 * Does the current user hold any of the privileges (bits) in a project?
 */
bool
PrivilegeHeld(int64 project_id, uint32 privileges)
{
	return (PrivilegesOfCurrentUser(project_id) & privileges) != 0;
}

/*
 * Does the current user hold one of "privileges" in a project named by
 * name?  False for a project that does not exist: the answer is the same
 * for a project the user cannot see and one that is not there.
 */
bool
PrivilegeHeldByName(const char *project, uint32 privileges)
{
	int64		project_id = PrivilegeProjectId(project);

	return project_id != 0 && PrivilegeHeld(project_id, privileges);
}

/*
 * Refuse the call unless the current user holds a privilege in a project.
 */
void
PrivilegeCheck(int64 project_id, const char *project, ProjectPrivilege privilege)
{
	if (!PrivilegeHeld(project_id, privilege))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for project \"%s\"", project),
				 errdetail("This needs privilege \"%s\" on the project.", PrivilegeName(privilege)),
				 errhint("The project's owner or a role with privilege \"admin\" on it can grant it with mlops.grant().")));
}

/*
 * A number that moves whenever what a role holds in a project may have
 * changed (after taking in pending invalidations): a check made while it
 * stays the same still holds for the same user.
 */
uint64
PrivilegeGeneration(void)
{
	PrivilegeSync();
	return priv_generation;
}

/*
 * The privileges a has_project_privilege call asks about: any (NULL) or
 * one.
 */
static uint32
PrivilegeArgument(FunctionCallInfo fcinfo)
{
	return PG_ARGISNULL(1) ? PRIV_ALL : PrivilegeFromName(text_to_cstring(PG_GETARG_TEXT_PP(1)));
}

/*
 * mlops.has_project_privilege(project_id bigint, privilege text): whether
 * the current user holds the privilege (NULL: any privilege) in the
 * project.  Row-level security calls it for every row.
 */
Datum
mlops_has_project_privilege_id(PG_FUNCTION_ARGS)
{
	uint32		privileges = PrivilegeArgument(fcinfo);

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(PrivilegeHeld(PG_GETARG_INT64(0), privileges));
}

/*
 * mlops.has_project_privilege(project text, privilege text): the same by
 * project name; false for a project that does not exist.
 */
Datum
mlops_has_project_privilege_name(PG_FUNCTION_ARGS)
{
	uint32		privileges = PrivilegeArgument(fcinfo);

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(PrivilegeHeldByName(text_to_cstring(PG_GETARG_TEXT_PP(0)), privileges));
}

/*
 * The arguments of grant and revoke: the project (the caller must hold
 * admin in it), the grantee (0 for PUBLIC) and the privilege.
 */
static RegistryProject *
PrivilegeGrantArgs(FunctionCallInfo fcinfo, Oid *grantee, const char **privilege)
{
	RegistryProject *proj;
	char	   *role;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project, role and privilege must not be NULL")));
	*privilege = text_to_cstring(PG_GETARG_TEXT_PP(2));
	PrivilegeFromName(*privilege);
	role = text_to_cstring(PG_GETARG_TEXT_PP(1));
	*grantee = strcmp(role, "public") == 0 ? InvalidOid : get_role_oid(role, true);
	if (*grantee == InvalidOid && strcmp(role, "public") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" does not exist", role),
				 errhint("Name a role exactly as it is spelled (no quotes), or \"public\" for every role.")));
	proj = RegistryGetProject(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	PrivilegeCheck(proj->id, proj->name, PRIV_ADMIN);
	return proj;
}

/*
 * Record a grant or revoke in mlops.events and tell every backend at
 * commit.
 */
static void
PrivilegeChanged(const char *action, const RegistryProject *proj, FunctionCallInfo fcinfo,
				 const char *privilege)
{
	StringInfoData detail;

	CacheInvalidateRelcacheByRelid(RegistryTableOid("project_grants"));
	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"role\": ");
	JsonAppendString(&detail, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	appendStringInfoString(&detail, ", \"privilege\": ");
	JsonAppendString(&detail, privilege);
	appendStringInfoChar(&detail, '}');
	RegistryLogEvent(action, proj->name, 0, detail.data);
}

/*
 * mlops.grant(project, role, privilege): give a role (or PUBLIC) a
 * privilege in a project.  Granting what is already granted changes
 * nothing.
 */
Datum
mlops_grant(PG_FUNCTION_ARGS)
{
	Oid			grantee;
	const char *privilege;
	RegistryProject *proj = PrivilegeGrantArgs(fcinfo, &grantee, &privilege);
	Oid			types[4] = {INT8OID, REGROLEOID, TEXTOID, REGROLEOID};
	Datum		values[4];

	values[0] = Int64GetDatum(proj->id);
	values[1] = ObjectIdGetDatum(grantee);
	values[2] = CStringGetTextDatum(privilege);
	values[3] = ObjectIdGetDatum(GetUserId());
	SPI_connect();
	RegistryWriteAsOwner("INSERT INTO mlops.project_grants (project_id, grantee, privilege, granted_by) "
						 "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
						 4, types, values, NULL);
	SPI_finish();
	PrivilegeChanged("grant", proj, fcinfo, privilege);
	PG_RETURN_VOID();
}

/*
 * mlops.revoke(project, role, privilege): take back a privilege granted to
 * a role (or PUBLIC); false when it was not granted.  The owner's
 * privileges come with the project and cannot be revoked.
 */
Datum
mlops_revoke(PG_FUNCTION_ARGS)
{
	Oid			grantee;
	const char *privilege;
	RegistryProject *proj = PrivilegeGrantArgs(fcinfo, &grantee, &privilege);
	Oid			types[3] = {INT8OID, REGROLEOID, TEXTOID};
	Datum		values[3];
	bool		revoked;

	values[0] = Int64GetDatum(proj->id);
	values[1] = ObjectIdGetDatum(grantee);
	values[2] = CStringGetTextDatum(privilege);
	SPI_connect();
	RegistryWriteAsOwner("DELETE FROM mlops.project_grants g "
						 "WHERE g.project_id OPERATOR(pg_catalog.=) $1 "
						 "AND g.grantee::pg_catalog.oid OPERATOR(pg_catalog.=) $2::pg_catalog.oid "
						 "AND g.privilege OPERATOR(pg_catalog.=) $3",
						 3, types, values, NULL);
	revoked = SPI_processed > 0;
	SPI_finish();
	if (revoked)
		PrivilegeChanged("revoke", proj, fcinfo, privilege);
	PG_RETURN_BOOL(revoked);
}
