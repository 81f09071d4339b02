# Several instances on one database (issue 13): partition claims, epochs
# and the fence of saga writes, against PostgreSQL.
ispflow_add_gtest(NAME cluster_fencing_test
  SOURCES integration/cluster_fencing_test.cpp
  LIBS ispflow::postgres ispflow::admin ispflow::test_support
  LABELS integration PG)

# Operator commands reach the partition's owner, a command whose owner died
# is taken up by the next one, and a drain (graceful stop) lets the calls in
# flight answer before the partition is released: two instances in one
# process over PostgreSQL, ispflowctl following a 202. Ephemeral ports only.
if(TARGET ispflowctl)
  ispflow_add_gtest(NAME cluster_commands_test
    SOURCES integration/cluster_commands_test.cpp
    LIBS ispflow::actors ispflow::admin ispflow::postgres ispflow::events
         ispflow::sagas ispflow::test_support ispflow::rapidjson
         PkgConfig::HTTPLIB PkgConfig::PQXX
    LABELS integration PG)
  target_compile_definitions(cluster_commands_test PRIVATE
    ISPFLOWCTL="$<TARGET_FILE:ispflowctl>")
  add_dependencies(cluster_commands_test ispflowctl)
endif()
