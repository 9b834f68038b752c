-- test/pgtap/10_owner_context.sql: no code of the caller ever runs with the
-- extension owner's rights (issue 10, defect 1)
--
-- A hostile non-superuser owns schema evil, where it shadows the built-in
-- operators, functions, aggregates, type names and casts that registry SQL
-- could use; every shadow records (current_user, session_user) in
-- evil.calls and tries to make hostile a superuser.  With search_path =
-- evil, pg_catalog it then calls every function that writes the registry.
-- The extension (created by postgres) is owned by a superuser, so one
-- shadow run as the owner would be an escalation.
BEGIN;
SELECT plan(29);

CREATE ROLE hostile;
CREATE SCHEMA evil AUTHORIZATION hostile;
SET ROLE hostile;

CREATE TABLE evil.calls (who name, via name, what text);

-- what every shadow does first: note who runs it, try to escalate
CREATE FUNCTION evil.note(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO evil.calls VALUES (current_user, session_user, what);
	BEGIN
		EXECUTE 'ALTER ROLE hostile SUPERUSER';
	EXCEPTION WHEN OTHERS THEN
		NULL;
	END;
END
$$;

-- operators: evil.<op>(left, right) notes the call and returns what the built-in returns
DO $$
DECLARE
	o record;
BEGIN
	FOR o IN SELECT * FROM (VALUES
		('=', 'int8', 'int8', 'int8eq'), ('<>', 'int8', 'int8', 'int8ne'),
		('<', 'int8', 'int8', 'int8lt'), ('>', 'int8', 'int8', 'int8gt'),
		('<=', 'int8', 'int8', 'int8le'), ('>=', 'int8', 'int8', 'int8ge'),
		('+', 'int8', 'int8', 'int8pl'), ('=', 'int8', 'int4', 'int84eq'),
		('=', 'int4', 'int4', 'int4eq'), ('<>', 'int4', 'int4', 'int4ne'),
		('+', 'int4', 'int4', 'int4pl'), ('<', 'int4', 'int4', 'int4lt'),
		('=', 'text', 'text', 'texteq'), ('<>', 'text', 'text', 'textne'),
		('=', 'name', 'name', 'nameeq'), ('=', 'name', 'text', 'nameeqtext'),
		('=', 'bool', 'bool', 'booleq'), ('=', 'jsonb', 'jsonb', 'jsonb_eq'),
		('->', 'jsonb', 'text', 'jsonb_object_field'),
		('->>', 'jsonb', 'text', 'jsonb_object_field_text'),
		('<=', 'timestamptz', 'timestamptz', 'timestamptz_le'),
		('<', 'timestamptz', 'timestamptz', 'timestamptz_lt'),
		('>', 'timestamptz', 'timestamptz', 'timestamptz_gt'),
		('+', 'timestamptz', 'interval', 'timestamptz_pl_interval'),
		('-', 'timestamptz', 'timestamptz', 'timestamptz_mi'),
		('>', 'interval', 'interval', 'interval_gt'),
		('*', 'float8', 'float8', 'float8mul')) AS v (op, l, r, fn)
	LOOP
		EXECUTE format('CREATE FUNCTION evil.%I(a pg_catalog.%s, b pg_catalog.%s) RETURNS pg_catalog.%s '
			'LANGUAGE plpgsql AS $f$ BEGIN PERFORM evil.note(%L); RETURN pg_catalog.%I(a, b); END $f$',
			'op_' || o.fn, o.l, o.r,
			(SELECT t.typname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_type t ON t.oid = p.prorettype
			  WHERE p.proname = o.fn AND p.pronamespace = 'pg_catalog'::regnamespace),
			o.l || ' ' || o.op || ' ' || o.r, o.fn);
		EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = pg_catalog.%s, RIGHTARG = pg_catalog.%s, '
			'FUNCTION = evil.%I)', o.op, o.l, o.r, 'op_' || o.fn);
	END LOOP;
END
$$;

-- functions
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('clock_timestamp()'); RETURN pg_catalog.clock_timestamp(); END $$;
CREATE FUNCTION evil.nextval(regclass) RETURNS int8 LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('nextval(regclass)'); RETURN pg_catalog.nextval($1); END $$;
CREATE FUNCTION evil.current_database() RETURNS name LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('current_database()'); RETURN pg_catalog.current_database(); END $$;
CREATE FUNCTION evil.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('jsonb_typeof(jsonb)'); RETURN pg_catalog.jsonb_typeof($1); END $$;
CREATE FUNCTION evil.jsonb_build_object(text, text, text, text, text, jsonb) RETURNS jsonb
	LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.note('jsonb_build_object(...)');
	RETURN pg_catalog.jsonb_build_object($1, $2, $3, $4, $5, $6); END $$;
CREATE FUNCTION evil.date_part(text, interval) RETURNS float8 LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('date_part(text, interval)'); RETURN pg_catalog.date_part($1, $2); END $$;
CREATE FUNCTION evil.has_database_privilege(oid, text, text) RETURNS bool LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('has_database_privilege(oid, text, text)');
	RETURN pg_catalog.has_database_privilege($1, $2, $3); END $$;
CREATE FUNCTION evil.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('unnest(text[])'); RETURN QUERY SELECT * FROM pg_catalog.unnest($1); END $$;
CREATE FUNCTION evil.unnest(float8[]) RETURNS SETOF float8 LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('unnest(float8[])'); RETURN QUERY SELECT * FROM pg_catalog.unnest($1); END $$;
CREATE FUNCTION evil.unnest(bool[]) RETURNS SETOF bool LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('unnest(bool[])'); RETURN QUERY SELECT * FROM pg_catalog.unnest($1); END $$;

-- aggregates
CREATE FUNCTION evil.agg_max(int4, int4) RETURNS int4 LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('max(int4)'); RETURN COALESCE(pg_catalog.int4larger(COALESCE($1, $2), $2), $1); END $$;
CREATE AGGREGATE evil.max(int4) (SFUNC = evil.agg_max, STYPE = int4);
CREATE FUNCTION evil.agg_min(timestamptz, timestamptz) RETURNS timestamptz LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('min(timestamptz)'); RETURN COALESCE(pg_catalog.timestamptz_smaller(COALESCE($1, $2), $2), $1); END $$;
CREATE AGGREGATE evil.min(timestamptz) (SFUNC = evil.agg_min, STYPE = timestamptz);
CREATE FUNCTION evil.agg_count(int8) RETURNS int8 LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('count(*)'); RETURN pg_catalog.int8inc($1); END $$;
CREATE AGGREGATE evil.count(*) (SFUNC = evil.agg_count, STYPE = int8, INITCOND = '0');
CREATE FUNCTION evil.agg_sum(int8, int4) RETURNS int8 LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('sum(int4)'); RETURN pg_catalog.int4_sum($1, $2); END $$;
CREATE AGGREGATE evil.sum(int4) (SFUNC = evil.agg_sum, STYPE = int8);

-- type names and casts: evil.text, evil.float8 and evil.int8 with implicit
-- casts from the built-in types, and function-style text(name)
CREATE TYPE evil.text AS (v pg_catalog.text);
CREATE FUNCTION evil.text(pg_catalog.name) RETURNS evil.text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('text(name)'); RETURN ROW($1::pg_catalog.text)::evil.text; END $$;
CREATE CAST (pg_catalog.name AS evil.text) WITH FUNCTION evil.text(pg_catalog.name) AS IMPLICIT;
CREATE TYPE evil.float8 AS (v pg_catalog.float8);
CREATE FUNCTION evil.float8(pg_catalog.text) RETURNS evil.float8 LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('float8(text)'); RETURN ROW($1::pg_catalog.float8)::evil.float8; END $$;
CREATE CAST (pg_catalog.text AS evil.float8) WITH FUNCTION evil.float8(pg_catalog.text) AS IMPLICIT;
CREATE TYPE evil.int8 AS (v pg_catalog.int8);
CREATE FUNCTION evil.int8(pg_catalog.int4) RETURNS evil.int8 LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.note('int8(int4)'); RETURN ROW($1::pg_catalog.int8)::evil.int8; END $$;
CREATE CAST (pg_catalog.int4 AS evil.int8) WITH FUNCTION evil.int8(pg_catalog.int4) AS IMPLICIT;

-- the training rows: y from x1 and x2, c a class
CREATE TABLE evil.data AS
SELECT i, (i % 7)::float8 AS x1, (i % 5)::float8 AS x2,
	   (2 * (i % 7) + (i % 5))::float8 AS y, (i % 7) > 3 AS c
  FROM generate_series(1, 80) AS i;

-- every function that writes the registry, in order, as hostile
CREATE TABLE evil.attacks (n int, what text, sql text, error text);
INSERT INTO evil.attacks (n, what, sql) VALUES
	(1, 'train xgboost', $$SELECT * FROM mlops.train('evil_reg', 'evil.data', 'y', exclude => '{i,c}')$$),
	(2, 'train linear', $$SELECT * FROM mlops.train('evil_reg', 'evil.data', 'y', 'linear', exclude => '{i,c}')$$),
	(3, 'train logistic', $$SELECT * FROM mlops.train('evil_cls', 'evil.data', 'c', 'logistic', exclude => '{i,y}')$$),
	(4, 'deploy most_recent', $$SELECT * FROM mlops.deploy('evil_reg', 'most_recent')$$),
	(5, 'deploy best_score', $$SELECT * FROM mlops.deploy('evil_reg', 'best_score')$$),
	(6, 'deploy specific', $$SELECT * FROM mlops.deploy('evil_reg', 'specific',
		(SELECT m.id FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
		WHERE p.name = 'evil_reg' AND m.version = 1))$$),
	(7, 'deploy rollback', $$SELECT * FROM mlops.deploy('evil_reg', 'rollback')$$),
	(8, 'evaluate', $$SELECT mlops.evaluate('evil_reg', 'evil.data')$$),
	(9, 'drift', $$SELECT * FROM mlops.drift('evil_reg', 'evil.data')$$),
	(10, 'retrain', $$SELECT * FROM mlops.retrain('evil_reg', 'evil.data', force => true)$$),
	(11, 'schedule', $$SELECT mlops.schedule('evil_reg', '1 day', 'evil.data')$$),
	(12, 'schedule again', $$SELECT mlops.schedule('evil_reg', '2 days', 'evil.data', '{"retrain": "always"}')$$),
	(13, 'unschedule', $$SELECT mlops.unschedule('evil_reg')$$),
	(14, 'train_async', $$SELECT mlops.train_async('evil_reg', 'evil.data', 'y', 'linear')$$),
	(15, 'cancel_job', $$SELECT mlops.cancel_job((SELECT j.id FROM mlops.jobs j WHERE j.project = 'evil_reg'))$$),
	(16, 'train never deployed', $$SELECT * FROM mlops.train('evil_reg', 'evil.data', 'y', 'linear',
		exclude => '{i,c}', deploy => 'never')$$),
	(17, 'drop_model', $$SELECT mlops.drop_model((SELECT m.id FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
		WHERE p.name = 'evil_reg' AND m.version = 4))$$),
	(18, 'drop_project', $$SELECT mlops.drop_project('evil_cls')$$);

SET client_min_messages = error;
SET search_path = evil, pg_catalog;
DO $$
DECLARE
	a record;
BEGIN
	FOR a IN SELECT * FROM evil.attacks ORDER BY n LOOP
		BEGIN
			EXECUTE a.sql;
		EXCEPTION WHEN OTHERS THEN
			UPDATE evil.attacks SET error = SQLERRM WHERE n = a.n;
		END;
	END LOOP;
END
$$;
RESET search_path;
RESET client_min_messages;
RESET ROLE;

SELECT is(error, NULL, format('as hostile with evil first in search_path: %s', what))
  FROM evil.attacks ORDER BY n;

SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'hostile'), false,
	'hostile did not make itself a superuser');
SELECT is((SELECT string_agg(DISTINCT format('%s as %s', what, who), ', ') FROM evil.calls WHERE who <> 'hostile'),
	NULL, 'no shadowing operator, function, aggregate or cast ran as another role than hostile');
SELECT is((SELECT count(*) FROM evil.calls WHERE who = 'hostile') > 0, true,
	'the shadows were live: hostile''s own statements ran them');
SELECT is((SELECT count(*) FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
		WHERE p.name = 'evil_reg'), 3::bigint,
	'the registry holds what the calls wrote (4 models of evil_reg, one dropped)');
SELECT is((SELECT count(*) FROM mlops.jobs WHERE project = 'evil_reg' AND status = 'canceled'), 1::bigint,
	'the queued job was canceled');

-- an error raised while running as the owner (version overflow in the
-- insert of a model), caught in a PL/pgSQL block, leaves the caller's user,
-- search_path and security context as they were
UPDATE mlops.models SET version = 2147483647
 WHERE id = (SELECT max(m.id) FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
			  WHERE p.name = 'evil_reg');
SET ROLE hostile;
CREATE TABLE evil.after_error (error text, who name, path text, temp_ok bool);
SET search_path = evil, pg_catalog;
DO $$
DECLARE
	err pg_catalog.text;
BEGIN
	BEGIN
		PERFORM * FROM mlops.train('evil_reg', 'evil.data', 'y', 'linear', exclude => '{i,c}');
	EXCEPTION WHEN OTHERS THEN
		err := SQLERRM;
	END;
	CREATE TEMP TABLE hostile_temp (x int);
	INSERT INTO evil.after_error VALUES (err, current_user, pg_catalog.current_setting('search_path'), true);
END
$$;
RESET search_path;
RESET ROLE;

SELECT is(error, 'integer out of range', 'the insert of a model failed as the owner') FROM evil.after_error;
SELECT is(who, 'hostile', 'after the caught error the user is hostile again') FROM evil.after_error;
SELECT is(path, 'evil, pg_catalog', 'after the caught error search_path is the caller''s again') FROM evil.after_error;
SELECT is(temp_ok, true, 'after the caught error hostile may create a temporary table (no restricted operation)')
  FROM evil.after_error;
SELECT is((SELECT count(*) FROM evil.calls WHERE who <> 'hostile'), 0::bigint,
	'the failed call ran nothing as another role either');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'hostile'), false,
	'hostile is still not a superuser');

SELECT * FROM finish();
ROLLBACK;
