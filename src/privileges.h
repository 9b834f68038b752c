/*-------------------------------------------------------------------------
 *
 * privileges.h
 *	  Per-project privileges: mlops.grant, mlops.revoke,
 *	  mlops.has_project_privilege and the checks of every entry point.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PRIVILEGES_H
#define MLOPS_PRIVILEGES_H

#include "postgres.h"

/* what a role may do in a project; admin holds every other one */
typedef enum ProjectPrivilege
{
	PRIV_PREDICT = 1 << 0,		/* score, explain, read the project's rows */
	PRIV_TRAIN = 1 << 1,		/* train, retrain, schedule, drift, evaluate */
	PRIV_DEPLOY = 1 << 2,		/* deploy, and train or retrain that deploys */
	PRIV_APPROVE = 1 << 3,
	PRIV_ADMIN = 1 << 4			/* all of them, drop, grant and revoke */
} ProjectPrivilege;

#define PRIV_ALL (PRIV_PREDICT | PRIV_TRAIN | PRIV_DEPLOY | PRIV_APPROVE | PRIV_ADMIN)

extern bool PrivilegeHeld(int64 project_id, uint32 privileges);
extern bool PrivilegeHeldByName(const char *project, uint32 privileges);
extern void PrivilegeCheck(int64 project_id, const char *project, ProjectPrivilege privilege);
extern uint64 PrivilegeGeneration(void);

#endif							/* MLOPS_PRIVILEGES_H */
