# The GenieACS adapter actor against the GenieACS NBI simulator, in-process on
# an ephemeral loopback port (no PostgreSQL).
if(TARGET ispflow::genieacs AND TARGET ispflow::sim_genieacs)
  ispflow_add_gtest(NAME genieacs_adapter_test
    SOURCES integration/genieacs_adapter_test.cpp
    LIBS ispflow::genieacs ispflow::sim_genieacs ispflow::common
         PkgConfig::HTTPLIB
    LABELS "integration;genieacs")
endif()
