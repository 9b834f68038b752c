-- governance: policies, stages, deploy requests, approvals, deploy windows
-- model ids in this file do not depend on the files run before it
\i sql/include/datasets.psql
SELECT FROM pg_catalog.setval('mlops.models_id_seq', 20000);

-- an error's message with times of day masked (deploy windows come from now())
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '\d\d:\d\d(:\d\d)?', 'HH:MM', 'g');
END $$;
-- a deploy window around now (open) or two hours later (closed), in UTC
CREATE FUNCTION pg_temp.window_(open boolean) RETURNS jsonb LANGUAGE sql AS $$
SELECT jsonb_build_object('from', to_char((now() AT TIME ZONE 'UTC') + CASE WHEN open THEN interval '-1 hour' ELSE interval '2 hours' END, 'HH24:MI'),
						  'to', to_char((now() AT TIME ZONE 'UTC') + CASE WHEN open THEN interval '1 hour' ELSE interval '3 hours' END, 'HH24:MI'),
						  'timezone', 'UTC')
$$;

SELECT version, deployed FROM mlops.train('gov', 'diabetes', 'progression', algorithm => 'linear');
SELECT version, deployed FROM mlops.train('gov', 'diabetes', 'progression', algorithm => 'ridge',
                                          hyperparams => '{"alpha": 10}', deploy => 'never');
SELECT version, deployed FROM mlops.train('gov', 'diabetes', 'progression', algorithm => 'lasso',
                                          hyperparams => '{"alpha": 0.5}', deploy => 'never');
SELECT id AS m1 FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'gov') AND version = 1 \gset
SELECT id AS m2 FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'gov') AND version = 2 \gset
SELECT id AS m3 FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'gov') AND version = 3 \gset

-- stages: a new model is none, the deployed one production
SELECT version, stage, deployed_at IS NOT NULL AS deployed FROM mlops.model_stages WHERE project = 'gov' ORDER BY version;

-- set_policy merges keys, a JSON null removes one, returns the policy
SELECT mlops.set_policy('gov', '{"metric": "mae", "min_improvement": 0.01}');
SELECT mlops.set_policy('gov', '{"min_improvement": null, "deploy_window": {"from": "00:00", "to": "24:00"}}');
SELECT policy FROM mlops.policies WHERE project = 'gov';
SELECT mlops.set_policy('gov', '{"deploy_window": null}');
-- wrong types and unknown keys are named
SELECT mlops.set_policy('gov', '{"require_approval": "yes"}');
SELECT mlops.set_policy('gov', '{"metrc": "mae"}');
SELECT mlops.set_policy('gov', '{"min_score": 0.5}');
SELECT mlops.set_policy('gov', '{"min_score": {"r2": "high"}}');
SELECT mlops.set_policy('gov', '{"metric": 3}');
SELECT mlops.set_policy('gov', '{"approvers": "regress_nobody"}');
SELECT mlops.set_policy('gov', '{"deploy_window": {"from": "25:00", "to": "17:00"}}');
SELECT mlops.set_policy('gov', '{"deploy_window": {"from": "09:00"}}');
SELECT mlops.set_policy('gov', '{"deploy_window": {"from": "09:00", "to": "17:00", "days": [0]}}');
SELECT mlops.set_policy('gov', '{"deploy_window": {"from": "09:00", "to": "17:00", "timezone": "Mars/Olympus"}}');
SELECT mlops.set_policy('gov', '{"deploy_window": {"from": "09:00", "to": "17:00", "hours": 3}}');
SELECT mlops.set_policy('gov', '[1, 2]');
SELECT mlops.set_policy('gov', NULL);
SELECT mlops.set_policy('nope', '{}');
-- retrain and schedule policies take the same keys
SELECT * FROM mlops.retrain('gov', policy => '{"min_score": []}');
SELECT mlops.schedule('gov', '1 day', policy => '{"require_approval": 1}');

-- the policy's metric chooses: mae is lower-is-better
SELECT version, strategy, status, request_id FROM mlops.deploy('gov', 'best_score');
SELECT version = (SELECT m.version FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
                   WHERE p.name = 'gov' ORDER BY (m.metrics->>'mae')::float8 LIMIT 1) AS lowest_mae
  FROM mlops.overview WHERE project = 'gov';
SELECT version, stage FROM mlops.model_stages WHERE project = 'gov' ORDER BY version;

-- set_stage: not production, not the deployed model, only known stages
SELECT mlops.set_stage(:m1, 'production');
SELECT mlops.set_stage(model_id, 'archived') FROM mlops.overview WHERE project = 'gov';
SELECT mlops.set_stage(:m1, 'retired');
SELECT mlops.set_stage(-1, 'staging');
SELECT mlops.set_stage(:m1, NULL);
-- archived models are never deployed: not chosen, refused when named, skipped by rollback
SELECT version FROM mlops.deploy('gov', 'specific', :m2);
SELECT version FROM mlops.deploy('gov', 'specific', :m1);
SELECT version FROM mlops.deploy('gov', 'specific', :m3);
SELECT mlops.set_stage(:m1, 'archived');
SELECT * FROM mlops.deploy('gov', 'specific', :m1);
SELECT version, strategy FROM mlops.deploy('gov', 'rollback');
SELECT version, strategy FROM mlops.deploy('gov', 'most_recent');
SELECT version, stage FROM mlops.model_stages WHERE project = 'gov' ORDER BY version;
SELECT * FROM mlops.deploy('gov', 'rollback');
SELECT mlops.set_stage(:m1, 'staging');

-- min_score: an explicit deploy below it is an error, train does not deploy
SELECT mlops.set_policy('gov', '{"min_score": {"r2": 0.99}}') ? 'min_score' AS set;
SELECT * FROM mlops.deploy('gov', 'specific', :m1);
SELECT * FROM mlops.deploy('gov', 'most_recent');
SELECT version, deployed FROM mlops.train('gov', 'diabetes', 'progression', algorithm => 'linear', deploy => 'always');
SELECT mlops.set_policy('gov', '{"min_score": {"mse": 100}}') IS NOT NULL AS set;
SELECT * FROM mlops.deploy('gov', 'specific', :m1);
SELECT mlops.set_policy('gov', '{"min_score": {"rmse": 100000}}') IS NOT NULL AS set;
SELECT version, status FROM mlops.deploy('gov', 'specific', :m1);
-- a rollback is never held: no floor
SELECT mlops.set_policy('gov', '{"min_score": {"r2": 0.99}}') IS NOT NULL AS set;
SELECT version, status FROM mlops.deploy('gov', 'rollback');
SELECT mlops.set_policy('gov', '{"min_score": null}') IS NOT NULL AS set;

-- deploy windows: outside, deploys are refused naming the window; rollbacks go
SELECT mlops.set_policy('gov', jsonb_build_object('deploy_window', pg_temp.window_(false))) IS NOT NULL AS set;
SELECT pg_temp.try($$SELECT mlops.deploy('gov', 'specific', $$ || :m3 || ')');
SELECT version, status FROM mlops.deploy('gov', 'rollback');
SET client_min_messages = warning;
SELECT version, deployed FROM mlops.train('gov', 'diabetes', 'progression', algorithm => 'linear', deploy => 'always');
RESET client_min_messages;
SELECT mlops.set_policy('gov', jsonb_build_object('deploy_window', pg_temp.window_(true))) IS NOT NULL AS set;
SELECT version, status FROM mlops.deploy('gov', 'specific', :m3);
SELECT mlops.set_policy('gov', '{"deploy_window": {"from": "00:00", "to": "24:00", "days": [1,2,3,4,5,6,7], "timezone": "Europe/Paris"}}') IS NOT NULL AS set;
SELECT version, status FROM mlops.deploy('gov', 'specific', :m2);

-- approvals: alice asks, bob approves, carol has no rights, dave approves but is no approver
CREATE ROLE regress_gov_approvers;
CREATE ROLE regress_gov_alice;
CREATE ROLE regress_gov_bob IN ROLE regress_gov_approvers;
CREATE ROLE regress_gov_carol;
CREATE ROLE regress_gov_dave;
GRANT regress_gov_approvers TO regress_gov_alice;
GRANT SELECT ON diabetes TO regress_gov_alice;
SELECT mlops.grant('gov', 'regress_gov_alice', 'deploy'), mlops.grant('gov', 'regress_gov_alice', 'train'),
       mlops.grant('gov', 'regress_gov_alice', 'approve'), mlops.grant('gov', 'regress_gov_bob', 'approve'),
       mlops.grant('gov', 'regress_gov_dave', 'approve');
SELECT mlops.set_policy('gov', '{"require_approval": true, "approvers": "regress_gov_approvers", "deploy_window": null}');
SET ROLE regress_gov_alice;
SELECT mlops.set_policy('gov', '{"require_approval": false}');
SELECT version, strategy, status, request_id IS NOT NULL AS has_request FROM mlops.deploy('gov', 'specific', :m1);
SELECT id AS r1 FROM mlops.deploy_requests WHERE project = 'gov' AND status = 'pending' \gset
SELECT model_id = :m1 AS same_model, strategy, status, requested_by FROM mlops.deploy_requests WHERE id = :r1;
SELECT version FROM mlops.overview WHERE project = 'gov';
-- four eyes: not one's own request
SELECT * FROM mlops.approve(:r1);
RESET ROLE;
SET ROLE regress_gov_carol;
SELECT * FROM mlops.approve(:r1);
SELECT * FROM mlops.reject(:r1);
SELECT count(*) FROM mlops.deploy_requests;
RESET ROLE;
SET ROLE regress_gov_dave;
SELECT * FROM mlops.approve(:r1);
RESET ROLE;
SET ROLE regress_gov_bob;
SELECT project, version, strategy FROM mlops.approve(:r1, 'looks good');
SELECT * FROM mlops.approve(:r1);
RESET ROLE;
SELECT status, decided_by, comment, deployed_at IS NOT NULL AS deployed FROM mlops.deploy_requests WHERE id = :r1;
SELECT version, stage FROM mlops.model_stages WHERE project = 'gov' ORDER BY version;
SELECT action, actor, detail ? 'request_id' AS names_request FROM mlops.events
 WHERE project = 'gov' AND action IN ('deploy_requested', 'approve', 'deploy', 'reject') ORDER BY id DESC LIMIT 3;

-- a newer request supersedes the pending one; rejected requests stay rejected
SET ROLE regress_gov_alice;
SELECT status FROM mlops.deploy('gov', 'specific', :m2);
SELECT status FROM mlops.deploy('gov', 'specific', :m3);
RESET ROLE;
SELECT status, count(*) FROM mlops.deploy_requests WHERE project = 'gov' GROUP BY status ORDER BY status;
SELECT id AS r3 FROM mlops.deploy_requests WHERE project = 'gov' AND status = 'pending' \gset
SET ROLE regress_gov_bob;
SELECT mlops.reject(:r3, 'not now');
SELECT * FROM mlops.approve(:r3);
RESET ROLE;
SELECT status, comment FROM mlops.deploy_requests WHERE id = :r3;

-- train and retrain request instead of deploying, with a NOTICE naming the request
SET ROLE regress_gov_alice;
SELECT version, deployed FROM mlops.train('gov', 'diabetes', 'progression', algorithm => 'linear', deploy => 'always');
SELECT action, deployed, reason LIKE '%deploy request % waits for an approval%' AS waits
  FROM mlops.retrain('gov', force => true, policy => '{"min_improvement": -1}');
RESET ROLE;
SELECT strategy, status, reason FROM mlops.deploy_requests WHERE project = 'gov' ORDER BY id DESC LIMIT 2;
-- a rollback never waits
SELECT version, status, request_id FROM mlops.deploy('gov', 'rollback');

-- approved outside the window: it waits for the background worker
SELECT mlops.set_policy('gov', jsonb_build_object('deploy_window', pg_temp.window_(false))) IS NOT NULL AS set;
SET ROLE regress_gov_alice;
SELECT status FROM mlops.deploy('gov', 'specific', :m3);
RESET ROLE;
SELECT id AS r5 FROM mlops.deploy_requests WHERE project = 'gov' AND status = 'pending' \gset
SET ROLE regress_gov_bob;
SET client_min_messages = warning;
SELECT version FROM mlops.approve(:r5);
RESET client_min_messages;
RESET ROLE;
SELECT status, deployed_at IS NULL AS waiting FROM mlops.deploy_requests WHERE id = :r5;
SELECT version = 3 AS m3_deployed FROM mlops.overview WHERE project = 'gov';
-- dropping the model expires the request
SELECT mlops.drop_model(:m3);
SELECT status FROM mlops.deploy_requests WHERE id = :r5;

-- bad input
SELECT * FROM mlops.approve(NULL);
SELECT * FROM mlops.approve(-1);
SELECT mlops.reject(NULL);
SELECT mlops.reject(-1);

-- dropping the project drops its policy and expires its requests
SET ROLE regress_gov_alice;
SELECT status FROM mlops.deploy('gov', 'specific', :m2);
RESET ROLE;
SELECT mlops.drop_project('gov');
SELECT count(*) AS policies FROM mlops.policies WHERE project = 'gov';
SELECT status, count(*) FROM mlops.deploy_requests WHERE project = 'gov' GROUP BY status ORDER BY status;
REVOKE SELECT ON diabetes FROM regress_gov_alice;
DROP ROLE regress_gov_alice, regress_gov_bob, regress_gov_carol, regress_gov_dave, regress_gov_approvers;
