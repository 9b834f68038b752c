-- test/integration/schema_catalog.sql: a canonical description of every
-- object in schema mlops, one line each, for comparing an upgraded
-- installation with a fresh one (test/integration/upgrade.sh).  OIDs,
-- owners' OIDs and the extension's own schema are left out: they differ
-- between installations by design.
WITH ns AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'mlops'),
ext AS (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'mlops'),
member AS (
	SELECT classid, objid FROM pg_catalog.pg_depend
	 WHERE refclassid = 'pg_catalog.pg_extension'::regclass AND refobjid = (SELECT oid FROM ext)
	   AND deptype = 'e'
)
SELECT line FROM (
	-- functions: signature with defaults, result, properties, body, grants, comment, membership
	SELECT format('function %s(%s) returns %s; %s %s strict=%s secdef=%s leakproof=%s config=%s lang=%s src=%s acl=%s member=%s comment=%s',
				  p.proname, pg_catalog.pg_get_function_arguments(p.oid),
				  pg_catalog.pg_get_function_result(p.oid), p.provolatile, p.proparallel, p.proisstrict,
				  p.prosecdef, p.proleakproof, p.proconfig, l.lanname,
				  CASE WHEN l.lanname = 'c' THEN p.prosrc ELSE md5(p.prosrc) END, p.proacl,
				  EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_proc'::regclass AND m.objid = p.oid),
				  pg_catalog.obj_description(p.oid, 'pg_proc')) AS line
	  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang
	 WHERE p.pronamespace = (SELECT oid FROM ns)
	UNION ALL
	-- relations: kind, row security, options, grants, comment, membership, view definitions
	SELECT format('relation %s kind=%s rls=%s force=%s options=%s acl=%s member=%s comment=%s def=%s',
				  c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.reloptions, c.relacl,
				  EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = c.oid),
				  pg_catalog.obj_description(c.oid, 'pg_class'),
				  CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END)
	  FROM pg_catalog.pg_class c
	 WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
	UNION ALL
	-- columns in order, with type, nullability, default, grants and comment
	SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s acl=%s comment=%s',
				  c.relname, a.attname,
				  pg_catalog.row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
				  pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
				  pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attacl,
				  pg_catalog.col_description(c.oid, a.attnum))
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
	 WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
	UNION ALL
	-- constraints (names left out: PostgreSQL derives them from the table's history)
	SELECT format('constraint on %s: %s', c.relname, pg_catalog.pg_get_constraintdef(k.oid))
	  FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
	 WHERE c.relnamespace = (SELECT oid FROM ns)
	UNION ALL
	-- indexes, without their names
	SELECT format('index on %s: %s', c.relname,
				  pg_catalog.regexp_replace(pg_catalog.pg_get_indexdef(i.indexrelid), '^CREATE (UNIQUE )?INDEX \S+ ON ', 'CREATE \1INDEX ON '))
	  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
	 WHERE c.relnamespace = (SELECT oid FROM ns)
	UNION ALL
	-- row-level security policies
	SELECT format('policy %s on %s: %s %s roles=%s using=%s check=%s', pol.policyname, pol.tablename,
				  pol.permissive, pol.cmd, pol.roles, pol.qual, pol.with_check)
	  FROM pg_catalog.pg_policies pol WHERE pol.schemaname = 'mlops'
	UNION ALL
	-- triggers
	SELECT format('trigger on %s: %s', c.relname, pg_catalog.pg_get_triggerdef(t.oid))
	  FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
	 WHERE c.relnamespace = (SELECT oid FROM ns) AND NOT t.tgisinternal
	UNION ALL
	-- types
	SELECT format('type %s %s comment=%s', t.typname, t.typtype, pg_catalog.obj_description(t.oid, 'pg_type'))
	  FROM pg_catalog.pg_type t
	 WHERE t.typnamespace = (SELECT oid FROM ns) AND t.typtype IN ('c', 'e', 'd') AND t.typrelid = 0
	UNION ALL
	-- tables pg_dump treats as configuration (their rows are dumped)
	SELECT format('config table %s filter=%s', c.relname, cfg.filter)
	  FROM pg_catalog.pg_extension e,
		   ROWS FROM (pg_catalog.unnest(e.extconfig), pg_catalog.unnest(e.extcondition)) AS cfg(relid, filter)
	  JOIN pg_catalog.pg_class c ON c.oid = cfg.relid
	 WHERE e.extname = 'mlops'
	UNION ALL
	-- the schema: its grants and comment (its owner and membership differ by design)
	SELECT format('schema acl=%s comment=%s', n.nspacl, pg_catalog.obj_description(n.oid, 'pg_namespace'))
	  FROM pg_catalog.pg_namespace n WHERE n.nspname = 'mlops'
) AS lines
ORDER BY line COLLATE "C";
