-- Generic drift statistics (src/monitor/stats_*.c).  Every value below was checked
-- against SciPy 1.10 (ks_2samp, wasserstein_distance, chi2_contingency with
-- correction=False, spatial.distance.jensenshannon) and NumPy quantiles;
-- test/python/stats_reference.py covers many more inputs.

--
-- ks_test
--
-- exact p-values, unequal and equal sizes
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value
FROM mlops.ks_test('{1,2,3,4,5}', '{3,4,5,6,7,8}');
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value
FROM mlops.ks_test('{0.1,0.5,0.9,1.3}', '{0.2,0.7,1.6,2.5}');
-- ties across and within the samples
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value
FROM mlops.ks_test('{1,1,2,2,3}', '{2,2,3,3,3,4}');
-- identical, disjoint, single values
SELECT * FROM mlops.ks_test('{3,1,2}', '{1,2,3}');
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value
FROM mlops.ks_test('{1,2,3,4,5,6,7,8,9,10}', '{11,12,13,14,15,16,17,18,19,20}');
SELECT * FROM mlops.ks_test('{5}', '{5}');
SELECT * FROM mlops.ks_test('{5}', '{6}');
-- NULL elements are ignored; a 2-D array is read as a flat list
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value
FROM mlops.ks_test('{1,NULL,2,3,4,5}', '{NULL,3,4,5,6,7,8}');
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value
FROM mlops.ks_test('{{1,2},{3,4}}', '{{3,4,5},{6,7,8}}');

--
-- wasserstein
--
SELECT mlops.wasserstein('{0,1,3}', '{5,6,8}');
SELECT round(mlops.wasserstein('{3.4,3.9,7.5,7.8}', '{4.5,1.4}')::numeric, 10);
SELECT round(mlops.wasserstein('{0,1}', '{0,0,1,1,NULL}')::numeric, 10);
SELECT round(mlops.wasserstein('{1,2,3}', '{1,1,1,4}')::numeric, 10);

--
-- psi and jensen_shannon
--
-- reference 1..9 with 4 bins: edges 3, 5 and 7, so bins (-inf, 3), [3, 5),
-- [5, 7) and [7, inf); values beyond the reference fall in the outer bins
SELECT round(mlops.psi('{1,2,3,4,5,6,7,8,9}', '{1,1,1,2,4,5,6,9,12,15}', 4)::numeric, 10);
SELECT round(mlops.jensen_shannon('{1,2,3,4,5,6,7,8,9}', '{1,1,1,2,4,5,6,9,12,15}', 4)::numeric, 10);
-- a value equal to an edge goes to the bin on its right
SELECT round(mlops.psi('{1,2,3,4,5,6,7,8,9}', '{3,5,7}', 4)::numeric, 10);
SELECT round(mlops.jensen_shannon('{1,2,3,4,5,6,7,8,9}', '{3,5,7}', 4)::numeric, 10);
-- identical samples, default 10 bins
SELECT mlops.psi('{1,2,3,4,5,6,7,8,9,10}', '{10,9,8,7,6,5,4,3,2,1}'),
	   mlops.jensen_shannon('{1,2,3,4,5,6,7,8,9,10}', '{10,9,8,7,6,5,4,3,2,1}');
-- ties in the reference repeat an edge (edges 0, 0 and 1): bins 0 and 1 stay
-- empty
SELECT round(mlops.psi('{0,0,0,0,0,0,1,1,1,2}', '{0,1,1,1,2,2,2,2,3,NULL}', 4)::numeric, 10);
SELECT round(mlops.jensen_shannon('{0,0,0,0,0,0,1,1,1,2}', '{0,1,1,1,2,2,2,2,3,NULL}', 4)::numeric, 10);
-- a single reference value: every bin but the last is empty
SELECT round(mlops.psi('{7}', '{6,7,8}', 3)::numeric, 10),
	   round(mlops.jensen_shannon('{7}', '{6,7,8}', 3)::numeric, 10);
-- all current values in one outer bin
SELECT round(mlops.psi('{1,2,3,4}', '{100,200}', 2)::numeric, 10),
	   round(mlops.jensen_shannon('{1,2,3,4}', '{100,200}', 2)::numeric, 10);

--
-- chi2_test
--
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value, dof
FROM mlops.chi2_test('{a,a,b,c}', '{a,b,c,c,c}');
-- categories seen on one side only, NULL elements ignored
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value, dof
FROM mlops.chi2_test('{x,x,x,y,NULL}', '{y,y,z,NULL}');
-- categories compare byte for byte: 'A' <> 'a', '' is a category, prefixes differ
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value, dof
FROM mlops.chi2_test(ARRAY['A', 'a', '', 'ab'], ARRAY['a', 'a', '', 'abc']);
-- a single category: statistic 0, p-value 1, dof 0 (as SciPy)
SELECT * FROM mlops.chi2_test('{same,same}', '{same}');
-- identical distributions
SELECT * FROM mlops.chi2_test('{a,b}', '{b,a}');

--
-- Larger deterministic samples: Weyl sequences (fractional parts of i times
-- an irrational), slightly bent for the current sample
--
-- exact p-value (5000 and 3000 values)
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value
FROM mlops.ks_test((SELECT array_agg(i * 0.6180339887498949 - floor(i * 0.6180339887498949))
					FROM generate_series(1, 5000) AS i),
				   (SELECT array_agg(power(i * 0.7548776662466927 - floor(i * 0.7548776662466927), 1.05))
					FROM generate_series(1, 3000) AS i));
-- asymptotic p-value (100000 and 60000 values)
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value
FROM mlops.ks_test((SELECT array_agg(i * 0.6180339887498949 - floor(i * 0.6180339887498949))
					FROM generate_series(1, 100000) AS i),
				   (SELECT array_agg(power(i * 0.7548776662466927 - floor(i * 0.7548776662466927), 1.015))
					FROM generate_series(1, 60000) AS i));
-- 100000 values per argument
SELECT round(mlops.wasserstein(array_agg(sin(i * 0.01)), array_agg(cos(i * 0.013) * 0.9))::numeric, 10)
FROM generate_series(1, 100000) AS i;
SELECT round(mlops.psi(array_agg(sin(i * 0.01)), array_agg(cos(i * 0.013) * 0.9), 20)::numeric, 10),
	   round(mlops.jensen_shannon(array_agg(sin(i * 0.01)), array_agg(cos(i * 0.013) * 0.9), 20)::numeric, 10)
FROM generate_series(1, 100000) AS i;
SELECT round(statistic::numeric, 10) AS statistic, round(p_value::numeric, 10) AS p_value, dof
FROM mlops.chi2_test((SELECT array_agg((i % 7)::text) FROM generate_series(1, 100000) AS i),
					 (SELECT array_agg(CASE WHEN i % 200 = 0 THEN '0' ELSE (i % 7)::text END)
					  FROM generate_series(1, 100000) AS i));

--
-- bad input
--
SELECT * FROM mlops.ks_test('{1,NaN}', '{1,2}');
SELECT * FROM mlops.ks_test('{1,2}', '{Infinity}');
SELECT * FROM mlops.ks_test('{-Infinity}', '{1,2}');
SELECT * FROM mlops.ks_test('{}', '{1,2}');
SELECT * FROM mlops.ks_test('{1,2}', '{NULL,NULL}');
SELECT * FROM mlops.ks_test(NULL, '{1,2}');
SELECT mlops.wasserstein('{1,2}', '{NaN}');
SELECT mlops.wasserstein('{-Infinity}', '{1}');
SELECT mlops.wasserstein('{1}', '{}');
SELECT mlops.wasserstein('{1}', NULL) IS NULL AS is_null;
SELECT mlops.psi('{1,2}', '{1,NaN}');
SELECT mlops.psi('{Infinity}', '{1}');
SELECT mlops.psi('{NULL}', '{1}');
SELECT mlops.psi('{1,2}', '{1,2}', 1);
SELECT mlops.psi('{1,2}', '{1,2}', 0);
SELECT mlops.psi('{1,2}', '{1,2}', 10001);
SELECT mlops.psi('{1,2}', '{1,2}', NULL) IS NULL AS is_null;
SELECT mlops.jensen_shannon('{1,2}', '{-Infinity}');
SELECT mlops.jensen_shannon('{}', '{1}');
SELECT mlops.jensen_shannon('{1,2}', '{1,2}', 1);
SELECT mlops.jensen_shannon('{1,2}', '{1,2}', 0);
SELECT mlops.jensen_shannon(NULL, '{1}') IS NULL AS is_null;
SELECT * FROM mlops.chi2_test('{}', '{a}');
SELECT * FROM mlops.chi2_test('{a}', '{NULL}');
SELECT * FROM mlops.chi2_test('{a}', NULL);
