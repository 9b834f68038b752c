-- contrib/datasets/tables.sql: one table per CSV of this directory, loaded.
--
-- Run it from this directory (\copy reads paths relative to psql's working
-- directory):
--     cd contrib/datasets && psql -f tables.sql
-- Every table is created in the current schema; the README's examples and
-- contrib/demo.sql use these names.  Missing values are written NA.

-- Fisher's iris: 150 flowers, 4 measurements in cm, 3 species.
CREATE TABLE iris (
	sepal_length_cm                float8,
	sepal_width_cm                 float8,
	petal_length_cm                float8,
	petal_width_cm                 float8,
	species                        text
);
\copy iris FROM 'iris.csv' WITH (FORMAT csv, HEADER true, NULL 'NA')

-- Wisconsin diagnostic breast cancer: 569 tumours, 30 measurements, diagnosis malignant or benign.
CREATE TABLE breast_cancer (
	mean_radius                    float8,
	mean_texture                   float8,
	mean_perimeter                 float8,
	mean_area                      float8,
	mean_smoothness                float8,
	mean_compactness               float8,
	mean_concavity                 float8,
	mean_concave_points            float8,
	mean_symmetry                  float8,
	mean_fractal_dimension         float8,
	radius_error                   float8,
	texture_error                  float8,
	perimeter_error                float8,
	area_error                     float8,
	smoothness_error               float8,
	compactness_error              float8,
	concavity_error                float8,
	concave_points_error           float8,
	symmetry_error                 float8,
	fractal_dimension_error        float8,
	worst_radius                   float8,
	worst_texture                  float8,
	worst_perimeter                float8,
	worst_area                     float8,
	worst_smoothness               float8,
	worst_compactness              float8,
	worst_concavity                float8,
	worst_concave_points           float8,
	worst_symmetry                 float8,
	worst_fractal_dimension        float8,
	diagnosis                      text
);
\copy breast_cancer FROM 'breast_cancer.csv' WITH (FORMAT csv, HEADER true, NULL 'NA')

-- UCI wine: 178 wines, 13 chemical measurements, 3 cultivars.
CREATE TABLE wine (
	alcohol                        float8,
	malic_acid                     float8,
	ash                            float8,
	alcalinity_of_ash              float8,
	magnesium                      float8,
	total_phenols                  float8,
	flavanoids                     float8,
	nonflavanoid_phenols           float8,
	proanthocyanins                float8,
	color_intensity                float8,
	hue                            float8,
	od280_od315_of_diluted_wines   float8,
	proline                        float8,
	cultivar                       text
);
\copy wine FROM 'wine.csv' WITH (FORMAT csv, HEADER true, NULL 'NA')

-- Efron et al. diabetes: 442 patients, 10 baseline variables, disease progression after a year.
CREATE TABLE diabetes (
	age                            float8,
	sex                            float8,
	bmi                            float8,
	bp                             float8,
	s1                             float8,
	s2                             float8,
	s3                             float8,
	s4                             float8,
	s5                             float8,
	s6                             float8,
	progression                    float8
);
\copy diabetes FROM 'diabetes.csv' WITH (FORMAT csv, HEADER true, NULL 'NA')

-- 8x8 handwritten digits: 1797 images, 64 pixels (0-16), the digit.
CREATE TABLE digits (
	px0                            int,
	px1                            int,
	px2                            int,
	px3                            int,
	px4                            int,
	px5                            int,
	px6                            int,
	px7                            int,
	px8                            int,
	px9                            int,
	px10                           int,
	px11                           int,
	px12                           int,
	px13                           int,
	px14                           int,
	px15                           int,
	px16                           int,
	px17                           int,
	px18                           int,
	px19                           int,
	px20                           int,
	px21                           int,
	px22                           int,
	px23                           int,
	px24                           int,
	px25                           int,
	px26                           int,
	px27                           int,
	px28                           int,
	px29                           int,
	px30                           int,
	px31                           int,
	px32                           int,
	px33                           int,
	px34                           int,
	px35                           int,
	px36                           int,
	px37                           int,
	px38                           int,
	px39                           int,
	px40                           int,
	px41                           int,
	px42                           int,
	px43                           int,
	px44                           int,
	px45                           int,
	px46                           int,
	px47                           int,
	px48                           int,
	px49                           int,
	px50                           int,
	px51                           int,
	px52                           int,
	px53                           int,
	px54                           int,
	px55                           int,
	px56                           int,
	px57                           int,
	px58                           int,
	px59                           int,
	px60                           int,
	px61                           int,
	px62                           int,
	px63                           int,
	digit                          int
);
\copy digits FROM 'digits.csv' WITH (FORMAT csv, HEADER true, NULL 'NA')

-- Pima Indians diabetes (corrected): 768 women, 8 measurements with missing values, diabetes pos or neg.
CREATE TABLE pima_diabetes (
	pregnant                       int,
	glucose                        int,
	pressure                       int,
	triceps                        int,
	insulin                        int,
	mass                           float8,
	pedigree                       float8,
	age                            int,
	diabetes                       text
);
\copy pima_diabetes FROM 'pima_diabetes.csv' WITH (FORMAT csv, HEADER true, NULL 'NA')

-- Original Wisconsin breast cancer: 699 samples, an id, 9 ordinal factors (1-10) with missing values, class benign or malignant.
CREATE TABLE breast_cancer_wisconsin (
	id                             int,
	cl_thickness                   int,
	cell_size                      int,
	cell_shape                     int,
	marg_adhesion                  int,
	epith_c_size                   int,
	bare_nuclei                    int,
	bl_cromatin                    int,
	normal_nucleoli                int,
	mitoses                        int,
	class                          text
);
\copy breast_cancer_wisconsin FROM 'breast_cancer_wisconsin.csv' WITH (FORMAT csv, HEADER true, NULL 'NA')
