-- test/shadows.sql: schema evil's shadows of the built-in operators,
-- functions, aggregates, type names and casts that SQL run as another role
-- could use (included by test/pgtap/10_owner_context.sql, run by
-- test/integration/worker_search_path.sh)
--
-- Run it as the role that owns schema evil.  Each shadow returns what the
-- built-in returns, after recording (current_user, session_user, what) in
-- evil.calls and trying to make the role that created it a superuser.  The
-- shadows apply to whoever has evil before pg_catalog in search_path.

CREATE TABLE evil.calls (who name, via name, what text);

-- what every shadow does first: note who runs it, try to make the role
-- running this script a superuser
DO $do$
BEGIN
	EXECUTE format($f$
		CREATE FUNCTION evil.note(what text) RETURNS void LANGUAGE plpgsql AS $b$
		BEGIN
			INSERT INTO evil.calls VALUES (current_user, session_user, what);
			BEGIN
				EXECUTE %L;
			EXCEPTION WHEN OTHERS THEN
				NULL;
			END;
		END
		$b$ $f$, format('ALTER ROLE %I SUPERUSER', current_user));
END
$do$;

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
