-- The data sets shared by the regression tests (the extension is already
-- created by pg_regress --load-extension).
\i sql/include/datasets.psql
SELECT count(*) AS iris, (SELECT count(*) FROM diabetes) AS diabetes,
       (SELECT count(*) FROM pima) AS pima FROM iris;
