-- Data sets shared by the regression tests (the extension is already
-- created by pg_regress --load-extension).
CREATE TABLE iris (sepal_length float8, sepal_width float8, petal_length float8,
                   petal_width float8, species text);
\copy iris FROM 'contrib/datasets/iris.csv' WITH (FORMAT csv, HEADER, NULL 'NA')
CREATE TABLE diabetes (age float8, sex float8, bmi float8, bp float8, s1 float8,
                       s2 float8, s3 float8, s4 float8, s5 float8, s6 float8,
                       progression float8);
\copy diabetes FROM 'contrib/datasets/diabetes.csv' WITH (FORMAT csv, HEADER, NULL 'NA')
CREATE TABLE pima (pregnant int, glucose int, pressure int, triceps int, insulin int,
                   mass numeric, pedigree float4, age int2, diabetes text);
\copy pima FROM 'contrib/datasets/pima_diabetes.csv' WITH (FORMAT csv, HEADER, NULL 'NA')
SELECT count(*) AS iris, (SELECT count(*) FROM diabetes) AS diabetes,
       (SELECT count(*) FROM pima) AS pima FROM iris;
