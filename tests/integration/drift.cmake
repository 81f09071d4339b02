# Drift reconciliation: a scan of subscriber records (PostgreSQL) against the
# NetBox, GenieACS and VOLTHA simulators (in-process, ephemeral ports) and
# FreeRADIUS's tables, after changes made behind ispflow's back.
if(TARGET ispflow::drift AND TARGET ispflow::sim_netbox
   AND TARGET ispflow::sim_genieacs AND TARGET ispflow::sim_voltha)
  ispflow_add_gtest(NAME drift_scan_test
    SOURCES integration/drift_scan_test.cpp
    LIBS ispflow::drift ispflow::sim_netbox ispflow::sim_genieacs
         ispflow::sim_voltha ispflow::voltha ispflow::genieacs
         ispflow::resilience ispflow::postgres ispflow::test_support
         ispflow::rapidjson ispflow::admin PkgConfig::HTTPLIB
    LABELS "integration;drift" PG)
  # ispflowctl driven as a process against the admin API.
  target_compile_definitions(drift_scan_test PRIVATE
    ISPFLOWCTL="$<TARGET_FILE:ispflowctl>")
  add_dependencies(drift_scan_test ispflowctl)
endif()
# Drift repair: scans with repair against FreeRADIUS's tables (the real
# RADIUS adapter, no FreeRADIUS server) and the VOLTHA, NetBox and GenieACS
# simulators, run by the saga router over the PostgreSQL saga store.
if(TARGET ispflow::drift AND TARGET ispflow::sim_voltha
   AND TARGET ispflow::sim_netbox AND TARGET ispflow::sim_genieacs)
  ispflow_add_gtest(NAME drift_repair_test
    SOURCES integration/drift_repair_test.cpp
    LIBS ispflow::drift ispflow::actors ispflow::sagas ispflow::radius
         ispflow::sim_voltha ispflow::voltha ispflow::resilience
         ispflow::sim_netbox ispflow::netbox ispflow::sim_genieacs
         ispflow::genieacs ispflow::rapidjson
         ispflow::postgres ispflow::test_support ispflow::admin
         ispflow::events PkgConfig::HTTPLIB PkgConfig::PQXX
    LABELS "integration;drift" PG)
  # ispflowctl driven as a process against the admin API.
  target_compile_definitions(drift_repair_test PRIVATE
    ISPFLOWCTL="$<TARGET_FILE:ispflowctl>")
  add_dependencies(drift_repair_test ispflowctl)
endif()
# Sealed credentials: a factory-reset CPE configured again by a repair from
# the password the activation kept sealed (GenieACS simulator, PostgreSQL).
if(TARGET ispflow::drift AND TARGET ispflow::sim_genieacs)
  ispflow_add_gtest(NAME drift_seal_test
    SOURCES integration/drift_seal_test.cpp
    LIBS ispflow::drift ispflow::actors ispflow::sagas ispflow::radius
         ispflow::sim_genieacs ispflow::genieacs ispflow::resilience
         ispflow::postgres ispflow::test_support ispflow::common
         ispflow::events PkgConfig::HTTPLIB PkgConfig::PQXX
    LABELS "integration;drift" PG)
endif()
