-- mlops.classification_metrics and mlops.regression_metrics
SELECT mlops.classification_metrics('{0,1,1,0}', '{{0.9,0.1},{0.2,0.8},{0.6,0.4},{0.4,0.6}}');
SELECT mlops.regression_metrics('{1,2,3,4}', '{1.5,2,2.5,4}');
-- the metrics of a model's predictions equal those it stored (the last 6
-- rows by x are held out)
CREATE TABLE me_small AS SELECT g AS x, g * 2.5 AS val FROM generate_series(1, 60) g;
SELECT model_id AS ordered FROM mlops.train('me_ordered', 'me_small', 'val', features => '{x}', order_by => 'x',
                                            test_size => 0.1, algorithm => 'linear') \gset
SELECT m.metrics - '{train_rows,test_rows,fit_seconds}'::text[]
       = mlops.regression_metrics(array_agg(val ORDER BY x), array_agg(mlops.predict(m.id, s) ORDER BY x)) AS same
  FROM mlops.models m, me_small s
 WHERE m.id = :ordered AND s.x > 54
 GROUP BY m.id, m.metrics;
-- bad input
SELECT mlops.classification_metrics('{0,1}', '{0.9,0.1}');
SELECT mlops.classification_metrics('{0,1}', '{{0.9,0.1}}');
SELECT mlops.classification_metrics('{0,2}', '{{0.9,0.1},{0.2,0.8}}');
SELECT mlops.classification_metrics('{0,-1}', '{{0.9,0.1},{0.2,0.8}}');
SELECT mlops.classification_metrics('{0,NULL}', '{{0.9,0.1},{0.2,0.8}}');
SELECT mlops.classification_metrics('{0,1}', '{{0.9,NaN},{0.2,0.8}}');
SELECT mlops.classification_metrics('{0,1}', '{{1},{1}}');
SELECT mlops.classification_metrics('{}', '{}');
SELECT mlops.regression_metrics('{1,2}', '{1}');
SELECT mlops.regression_metrics('{1,NULL}', '{1,2}');
SELECT mlops.regression_metrics('{1,2}', '{1,Infinity}');
SELECT mlops.regression_metrics('{}', '{}');
SELECT mlops.regression_metrics(NULL, '{1}');
