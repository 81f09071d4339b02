# Several instances on one database (issue 13): partition claims, epochs
# and the fence of saga writes, against PostgreSQL.
ispflow_add_gtest(NAME cluster_fencing_test
  SOURCES integration/cluster_fencing_test.cpp
  LIBS ispflow::postgres ispflow::admin ispflow::test_support
  LABELS integration PG)
