# mlops: PostgreSQL extension (PGXS)

EXTENSION = mlops
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")
MODULE_big = mlops
PGFILEDESC = "mlops - machine learning and MLOps inside PostgreSQL"

OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))

# the 0.1.0 install script as it shipped, its control file, and the upgrade scripts
DATA = sql/$(EXTENSION)--0.1.0.sql $(EXTENSION)--0.1.0.control $(wildcard sql/$(EXTENSION)--*--*.sql)
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql

# pg_regress tests, listed explicitly so the install script never runs as one
REGRESS = setup train predict registry metrics stats featurize retrain drift corrupt security_limits papercuts governance lineage plan_support tune explain monitor canary serving_stats batch_predict
REGRESS_OPTS = --load-extension=$(EXTENSION)

PG_CPPFLAGS += -I$(srcdir)/src
SHLIB_LINK += -lxgboost -lopenblas -llapacke -llapack -lm

EXTRA_CLEAN = sql/$(EXTENSION)--$(EXTVERSION).sql

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@
