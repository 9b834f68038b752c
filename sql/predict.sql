-- mlops.predict, predict_proba, predict_label, featurize: every input form
\i sql/include/datasets.psql

-- the models this file scores, in projects of its own
SELECT FROM pg_catalog.setval('mlops.models_id_seq', 50000);
SELECT model_id AS iris_model FROM mlops.train('pr_iris', 'iris', 'species') \gset
SELECT model_id AS logistic_model
  FROM mlops.train('pr_iris', 'iris', 'species', algorithm => 'logistic', deploy => 'never') \gset
SELECT model_id AS diabetes_model FROM mlops.train('pr_diabetes', 'diabetes', 'progression', algorithm => 'linear') \gset
SELECT FROM mlops.train('pr_pima', 'pima', 'diabetes', hyperparams => '{"n_estimators": 20}');
CREATE TABLE pr_small AS SELECT g AS x, (g % 3) AS cls, (g % 2 = 0) AS flag FROM generate_series(1, 60) g;
SELECT FROM mlops.train('pr_small_int', 'pr_small', 'cls', exclude => '{flag}');
SELECT FROM mlops.train('pr_small_bool', 'pr_small', 'flag', features => '{x}');

-- row form matches columns by name; extra columns are ignored
SELECT (i).species, mlops.predict('pr_iris', i), mlops.predict_label('pr_iris', i),
       array_length(mlops.predict_proba('pr_iris', i), 1) AS nproba,
       round((SELECT sum(p) FROM unnest(mlops.predict_proba('pr_iris', i)) p)::numeric, 6) AS proba_sum
  FROM (SELECT i, row_number() OVER () AS rn FROM iris i) s WHERE rn IN (1, 60, 120);

-- accuracy of the deployed model on all rows
SELECT round(avg((mlops.predict_label('pr_iris', i) = species)::int), 2) AS accuracy FROM iris i;

-- reordered columns, other types, a jsonb object, arrays: the same prediction
SELECT mlops.predict_proba('pr_iris', t) = mlops.predict_proba('pr_iris', i) AS reordered,
       mlops.predict_proba('pr_iris', jsonb_build_object('sepal_length', i.sepal_length, 'sepal_width', i.sepal_width,
                                                      'petal_length', i.petal_length, 'petal_width', i.petal_width))
         = mlops.predict_proba('pr_iris', i) AS json,
       mlops.predict_proba('pr_iris', ARRAY[i.sepal_length, i.sepal_width, i.petal_length, i.petal_width])
         = mlops.predict_proba('pr_iris', i) AS float8_array,
       mlops.predict_proba(:iris_model, ARRAY[i.sepal_length, i.sepal_width, i.petal_length, i.petal_width]::float4[])
         = mlops.predict_proba('pr_iris', i) AS float4_array
  FROM iris i, LATERAL (SELECT i.petal_width, i.petal_length::numeric AS petal_length, i.sepal_width,
                               i.sepal_length, 'x' AS extra) t
 WHERE i.ctid = '(0,7)';

-- regression
SELECT round(mlops.predict('pr_diabetes', d)::numeric, 3) AS pred, progression
  FROM diabetes d WHERE ctid = '(0,1)';
SELECT mlops.predict('pr_diabetes', d) = mlops.predict(:diabetes_model, d) AS pinned
  FROM diabetes d WHERE ctid = '(0,1)';

-- numeric and boolean labels: predict returns the label's value
SELECT mlops.predict('pr_small_int', s), mlops.predict_label('pr_small_int', s), cls
  FROM pr_small s WHERE x IN (3, 4, 5) ORDER BY x;
SELECT mlops.predict('pr_small_bool', s), mlops.predict_label('pr_small_bool', s), flag
  FROM pr_small s WHERE x IN (3, 4) ORDER BY x;

-- NULL features: missing for trees, imputed for linear models
SELECT mlops.predict('pr_pima', p) IS NOT NULL AS ok FROM pima p WHERE insulin IS NULL LIMIT 1;
SELECT mlops.predict('pr_iris', '{"sepal_length": null, "sepal_width": 3, "petal_length": null, "petal_width": 1}'::jsonb);
SELECT mlops.predict('pr_iris', '{NULL,NULL,NULL,NULL}'::float8[]);
-- some NULL elements, in each array type: the row's prediction with those columns NULL
SELECT mlops.predict_proba('pr_iris', ARRAY[i.sepal_length, NULL, i.petal_length, NULL]::float8[])
         = mlops.predict_proba('pr_iris', t) AS float8_nulls,
       mlops.predict_proba('pr_iris', ARRAY[NULL, i.sepal_width, NULL, i.petal_width]::float4[])
         = mlops.predict_proba('pr_iris', ARRAY[NULL, i.sepal_width::float4, NULL, i.petal_width::float4]::float8[])
         AS float4_nulls,
       mlops.predict_proba('pr_iris', ARRAY[i.sepal_length, NULL, i.petal_length, NULL]::numeric[])
         = mlops.predict_proba('pr_iris', t) AS numeric_nulls
  FROM iris i, LATERAL (SELECT i.sepal_length, NULL::float8 AS sepal_width, i.petal_length,
                               NULL::float8 AS petal_width) t
 WHERE i.ctid = '(0,7)';
-- a PL/pgSQL array variable (expanded; elements assigned one by one): as the literal
DO $$
DECLARE
  x8 float8[] := '{5.1,3.5,1.4,0.2}';
  x4 float4[] := '{5.1,3.5,1.4,0.2}';
  xn numeric[] := '{5.1,3.5,1.4,0.2}';
BEGIN
  x8[2] := NULL; x4[2] := NULL; xn[2] := NULL;
  x8[3] := 4.5; x4[3] := 4.5; xn[3] := 4.5;
  IF mlops.predict_proba('pr_iris', x8) IS DISTINCT FROM mlops.predict_proba('pr_iris', '{5.1,NULL,4.5,0.2}'::float8[])
     OR mlops.predict_proba('pr_iris', x4) IS DISTINCT FROM mlops.predict_proba('pr_iris', '{5.1,NULL,4.5,0.2}'::float4[])
     OR mlops.predict_proba('pr_iris', xn) IS DISTINCT FROM mlops.predict_proba('pr_iris', '{5.1,NULL,4.5,0.2}'::numeric[]) THEN
    RAISE EXCEPTION 'an expanded array predicts otherwise than its literal';
  END IF;
  x8[1] := 'Infinity';
  PERFORM mlops.predict('pr_iris', x8);
END $$;
SELECT mlops.predict('pr_iris', '{1,NULL,NaN,4}'::float8[]);
SELECT mlops.predict('pr_iris', '{NULL,2,-Infinity,4}'::float4[]);

-- featurize: the vector the model sees (the linear model standardizes)
SELECT mlops.featurize('pr_iris', i) FROM iris i WHERE ctid = '(0,1)';
SELECT round((mlops.featurize(:logistic_model, i))[1]::numeric, 12) =
       round(((i.sepal_length - (m.features->'inputs'->0->>'center')::float8)
              / (m.features->'inputs'->0->>'scale_by')::float8)::numeric, 12) AS standardized
  FROM iris i, mlops.models m WHERE m.id = :logistic_model LIMIT 1;

-- NULL arguments give NULL
SELECT mlops.predict('pr_iris', NULL::float8[]), mlops.predict(NULL::text, '{1,2,3,4}'::float8[]),
       mlops.predict_proba('pr_iris', NULL::jsonb), mlops.predict_label(NULL::bigint, NULL::float4[]);

-- bad input
SELECT mlops.predict('nope', '{1,2,3,4}'::float8[]);
SELECT mlops.predict(-1, '{1,2,3,4}'::float8[]);
SELECT mlops.predict('pr_iris', '{1,2,3}'::float8[]);
SELECT mlops.predict('pr_iris', '{}'::float8[]);
SELECT mlops.predict('pr_iris', '{{1,2},{3,4}}'::float8[]);
SELECT mlops.predict('pr_iris', '{1,2,3,NaN}'::float8[]);
SELECT mlops.predict('pr_iris', '{1,2,Infinity,4}'::float4[]);
SELECT mlops.predict('pr_iris', '{"sepal_length": 1, "sepal_width": 2, "petal_length": 3}'::jsonb);
SELECT mlops.predict('pr_iris', '{"sepal_length": "one", "sepal_width": 2, "petal_length": 3, "petal_width": 1}'::jsonb);
SELECT mlops.predict('pr_iris', '[1, 2, 3, 4]'::jsonb);
SELECT mlops.predict('pr_iris', t) FROM (SELECT 1.0 AS sepal_length) t;
SELECT mlops.predict('pr_iris', t) FROM (SELECT 'a'::text AS sepal_length, 1 AS sepal_width, 2 AS petal_length, 3 AS petal_width) t;
SELECT mlops.predict('pr_iris', t) FROM (SELECT 'NaN'::float8 AS sepal_length, 1 AS sepal_width, 2 AS petal_length, 3 AS petal_width) t;
SELECT mlops.predict_proba('pr_diabetes', d) FROM diabetes d LIMIT 1;
SELECT mlops.predict_label('pr_diabetes', d) FROM diabetes d LIMIT 1;
SELECT mlops.predict('x', '{1}'::float8[]);

-- predict is STABLE and PARALLEL SAFE
SELECT DISTINCT provolatile, proparallel FROM pg_proc
 WHERE pronamespace = 'mlops'::regnamespace AND proname LIKE 'predict%';

-- a prepared predict (each execution a new call site, reusing the backend's
-- last resolution while nothing changed) serves what is deployed at each
-- execution: after a redeploy, and after one in the same transaction
SELECT mlops.predict_proba(:iris_model, '{6.1,2.8,4.7,1.2}'::float8[])::text AS p_xgb,
       mlops.predict_proba(:logistic_model, '{6.1,2.8,4.7,1.2}'::float8[])::text AS p_logistic \gset
SELECT :'p_xgb' <> :'p_logistic' AS models_differ;
PREPARE pr_same AS SELECT mlops.predict_proba('pr_iris', '{6.1,2.8,4.7,1.2}'::float8[])::text AS p;
EXECUTE pr_same \gset pr_
EXECUTE pr_same \gset again_
SELECT :'pr_p' = :'p_xgb' AS first, :'again_p' = :'p_xgb' AS again;
SELECT status FROM mlops.deploy('pr_iris', 'specific', :logistic_model);
EXECUTE pr_same \gset pr_
SELECT :'pr_p' = :'p_logistic' AS after_redeploy;
BEGIN;
SELECT status FROM mlops.deploy('pr_iris', 'specific', :iris_model);
EXECUTE pr_same \gset pr_
SELECT :'pr_p' = :'p_xgb' AS in_transaction;
COMMIT;
DEALLOCATE pr_same;
