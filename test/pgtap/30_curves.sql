-- test/pgtap/30_curves.sql: curves and class weights as an unprivileged role
--
-- cv_alice trains project cva (binary, with class_weight) and cv_carol
-- project cvc.  cv_bob sees no curve of either until he holds a privilege
-- on cva: the stored curves (mlops.model_curves and its views) then show
-- cva's rows only; mlops.roc_curve, pr_curve and calibration_curve need the
-- train privilege (they read a labeled relation, like evaluate) and then
-- give what the owner gets.  A relation bob cannot read is refused.
BEGIN;
SELECT plan(17);

CREATE TABLE cv_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, (i % 7) / 7.0 AS b, ((i % 17) / 17.0 + (i % 7) / 7.0 > 1.2)::int AS y
  FROM generate_series(1, 300) i;
GRANT SELECT ON cv_t TO PUBLIC;
CREATE TABLE cv_secret AS SELECT * FROM cv_t;
CREATE ROLE cv_alice;
CREATE ROLE cv_bob;
CREATE ROLE cv_carol;

SET client_min_messages = error;
\o /dev/null
SET ROLE cv_alice;
SELECT version FROM mlops.train('cva', 'cv_t', 'y', algorithm => 'logistic', exclude => '{id}',
								hyperparams => '{"class_weight": "balanced"}');
SET ROLE cv_carol;
SELECT version FROM mlops.train('cvc', 'cv_t', 'y', exclude => '{id}',
								hyperparams => '{"class_weight": {"1": 3}, "n_estimators": 5}');
RESET ROLE;
\o
SELECT id AS cva_model FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'cva') \gset
SELECT id AS cvc_model FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'cvc') \gset
CREATE TEMP TABLE owner_roc AS SELECT * FROM mlops.roc_curve(:cva_model, 'cv_t');
GRANT SELECT ON owner_roc TO PUBLIC;

SELECT is((SELECT hyperparams->'class_weight' FROM mlops.models WHERE id = :cva_model), '"balanced"'::jsonb,
		  'class_weight "balanced" is recorded in hyperparams');
SELECT is((SELECT hyperparams->'class_weight' FROM mlops.models WHERE id = :cvc_model), '{"1": 3}'::jsonb,
		  'class_weight by label is recorded in hyperparams');
SELECT is((SELECT array_agg(DISTINCT curve ORDER BY curve) FROM mlops.model_curves WHERE model_id = :cva_model),
		  '{calibration,pr,roc}'::text[], 'training stored the three held-out curves');

SET ROLE cv_bob;
SELECT is((SELECT count(*) FROM mlops.model_curves), 0::bigint, 'bob sees no stored curve');
SELECT is((SELECT count(*) FROM mlops.roc_curves) + (SELECT count(*) FROM mlops.pr_curves)
		  + (SELECT count(*) FROM mlops.calibration), 0::bigint, 'nor any row of the curve views');
SELECT throws_ok(format('SELECT * FROM mlops.roc_curve(%s, %L)', :cva_model, 'cv_t'), '42501', NULL,
				 'roc_curve without a privilege is refused');
RESET ROLE;
SELECT mlops.grant('cva', 'cv_bob', 'predict');
SET ROLE cv_bob;
SELECT ok((SELECT count(*) FROM mlops.roc_curves) > 0, 'with predict bob sees the stored ROC curve of cva');
SELECT is((SELECT array_agg(DISTINCT model_id) FROM mlops.model_curves), ARRAY[:cva_model]::bigint[],
		  'and only the curves of cva');
SELECT is((SELECT count(*) FROM mlops.calibration WHERE model_id = :cvc_model), 0::bigint,
		  'none of carol''s project');
SELECT throws_ok(format('SELECT * FROM mlops.roc_curve(%s, %L)', :cva_model, 'cv_t'), '42501', NULL,
				 'roc_curve needs the train privilege');
SELECT throws_ok(format('SELECT * FROM mlops.pr_curve(%s, %L)', :cva_model, 'cv_t'), '42501', NULL,
				 'pr_curve needs the train privilege');
SELECT throws_ok(format('SELECT * FROM mlops.calibration_curve(%s, %L)', :cva_model, 'cv_t'), '42501', NULL,
				 'calibration_curve needs the train privilege');
RESET ROLE;
SELECT mlops.grant('cva', 'cv_bob', 'train');
REVOKE SELECT ON cv_secret FROM PUBLIC;
SET ROLE cv_bob;
SELECT results_eq(format('SELECT * FROM mlops.roc_curve(%s, %L)', :cva_model, 'cv_t'),
				  'SELECT * FROM owner_roc', 'with train bob gets the owner''s ROC curve');
SELECT ok((SELECT count(*) FROM mlops.pr_curve(:cva_model, 'cv_t')) > 0, 'and a precision-recall curve');
SELECT is((SELECT sum(rows) FROM mlops.calibration_curve(:cva_model, 'cv_t', 5)), 300::numeric,
		  'and a calibration curve over every row');
SELECT throws_ok(format('SELECT * FROM mlops.roc_curve(%s, %L)', :cva_model, 'cv_secret'), '42501', NULL,
				 'a relation bob cannot read is refused');
SELECT throws_ok(format('SELECT * FROM mlops.roc_curve(%s, %L)', :cvc_model, 'cv_t'), '42501', NULL,
				 'a model of carol''s project is refused');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
