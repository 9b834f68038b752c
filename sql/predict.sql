-- mlops.predict, predict_proba, predict_label, featurize: every input form

SELECT model_id AS iris_model FROM mlops.overview WHERE project = 'iris' \gset
SELECT model_id AS diabetes_model FROM mlops.overview WHERE project = 'diabetes' \gset

-- row form matches columns by name; extra columns are ignored
SELECT (i).species, mlops.predict('iris', i), mlops.predict_label('iris', i),
       array_length(mlops.predict_proba('iris', i), 1) AS nproba,
       round((SELECT sum(p) FROM unnest(mlops.predict_proba('iris', i)) p)::numeric, 6) AS proba_sum
  FROM (SELECT i, row_number() OVER () AS rn FROM iris i) s WHERE rn IN (1, 60, 120);

-- accuracy of the deployed model on all rows
SELECT round(avg((mlops.predict_label('iris', i) = species)::int), 2) AS accuracy FROM iris i;

-- reordered columns, other types, a jsonb object, arrays: the same prediction
SELECT mlops.predict_proba('iris', t) = mlops.predict_proba('iris', i) AS reordered,
       mlops.predict_proba('iris', jsonb_build_object('sepal_length', i.sepal_length, 'sepal_width', i.sepal_width,
                                                      'petal_length', i.petal_length, 'petal_width', i.petal_width))
         = mlops.predict_proba('iris', i) AS json,
       mlops.predict_proba('iris', ARRAY[i.sepal_length, i.sepal_width, i.petal_length, i.petal_width])
         = mlops.predict_proba('iris', i) AS float8_array,
       mlops.predict_proba(:iris_model, ARRAY[i.sepal_length, i.sepal_width, i.petal_length, i.petal_width]::float4[])
         = mlops.predict_proba('iris', i) AS float4_array
  FROM iris i, LATERAL (SELECT i.petal_width, i.petal_length::numeric AS petal_length, i.sepal_width,
                               i.sepal_length, 'x' AS extra) t
 WHERE i.ctid = '(0,7)';

-- regression
SELECT round(mlops.predict('diabetes', d)::numeric, 3) AS pred, progression
  FROM diabetes d WHERE ctid = '(0,1)';
SELECT mlops.predict('diabetes', d) = mlops.predict(:diabetes_model, d) AS pinned
  FROM diabetes d WHERE ctid = '(0,1)';

-- numeric and boolean labels: predict returns the label's value
SELECT mlops.predict('small_int', s), mlops.predict_label('small_int', s), cls
  FROM small s WHERE x IN (3, 4, 5) ORDER BY x;
SELECT mlops.predict('small_bool', s), mlops.predict_label('small_bool', s), flag
  FROM small s WHERE x IN (3, 4) ORDER BY x;

-- NULL features: missing for trees, imputed for linear models
SELECT mlops.predict('pima', p) IS NOT NULL AS ok FROM pima p WHERE insulin IS NULL LIMIT 1;
SELECT mlops.predict('iris', '{"sepal_length": null, "sepal_width": 3, "petal_length": null, "petal_width": 1}'::jsonb);
SELECT mlops.predict('iris', '{NULL,NULL,NULL,NULL}'::float8[]);

-- featurize: the vector the model sees (the linear model standardizes)
SELECT mlops.featurize('iris', i) FROM iris i WHERE ctid = '(0,1)';
SELECT m.id AS logistic_model FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
 WHERE p.name = 'iris' AND m.algorithm = 'logistic' \gset
SELECT round((mlops.featurize(:logistic_model, i))[1]::numeric, 12) =
       round(((i.sepal_length - (m.features->'inputs'->0->>'center')::float8)
              / (m.features->'inputs'->0->>'scale_by')::float8)::numeric, 12) AS standardized
  FROM iris i, mlops.models m WHERE m.id = :logistic_model LIMIT 1;

-- NULL arguments give NULL
SELECT mlops.predict('iris', NULL::float8[]), mlops.predict(NULL::text, '{1,2,3,4}'::float8[]),
       mlops.predict_proba('iris', NULL::jsonb), mlops.predict_label(NULL::bigint, NULL::float4[]);

-- bad input
SELECT mlops.predict('nope', '{1,2,3,4}'::float8[]);
SELECT mlops.predict(-1, '{1,2,3,4}'::float8[]);
SELECT mlops.predict('iris', '{1,2,3}'::float8[]);
SELECT mlops.predict('iris', '{}'::float8[]);
SELECT mlops.predict('iris', '{{1,2},{3,4}}'::float8[]);
SELECT mlops.predict('iris', '{1,2,3,NaN}'::float8[]);
SELECT mlops.predict('iris', '{1,2,Infinity,4}'::float4[]);
SELECT mlops.predict('iris', '{"sepal_length": 1, "sepal_width": 2, "petal_length": 3}'::jsonb);
SELECT mlops.predict('iris', '{"sepal_length": "one", "sepal_width": 2, "petal_length": 3, "petal_width": 1}'::jsonb);
SELECT mlops.predict('iris', '[1, 2, 3, 4]'::jsonb);
SELECT mlops.predict('iris', t) FROM (SELECT 1.0 AS sepal_length) t;
SELECT mlops.predict('iris', t) FROM (SELECT 'a'::text AS sepal_length, 1 AS sepal_width, 2 AS petal_length, 3 AS petal_width) t;
SELECT mlops.predict('iris', t) FROM (SELECT 'NaN'::float8 AS sepal_length, 1 AS sepal_width, 2 AS petal_length, 3 AS petal_width) t;
SELECT mlops.predict_proba('diabetes', d) FROM diabetes d LIMIT 1;
SELECT mlops.predict_label('diabetes', d) FROM diabetes d LIMIT 1;
SELECT mlops.predict('x', '{1}'::float8[]);

-- predict is STABLE and PARALLEL SAFE
SELECT DISTINCT provolatile, proparallel FROM pg_proc
 WHERE pronamespace = 'mlops'::regnamespace AND proname LIKE 'predict%';
