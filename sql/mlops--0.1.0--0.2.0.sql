-- mlops upgrade script: 0.1.0 to 0.2.0
--
-- Every change to the schema made in 0.2.0 lands here as it is made, so
-- that ALTER EXTENSION mlops UPDATE leaves what a fresh 0.2.0 install
-- creates (test/integration/upgrade.sh compares the two).  The schema
-- itself stays outside the extension on upgraded installations: PostgreSQL
-- cannot add an existing schema to an extension.

\echo Use "ALTER EXTENSION mlops UPDATE TO '0.2.0'" to load this file. \quit

COMMENT ON SCHEMA mlops IS 'mlops: machine learning and MLOps inside PostgreSQL.';
