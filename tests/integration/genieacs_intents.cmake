# The GenieACS adapter's durable task intents (schema/0007) in a scratch
# PostgreSQL database, and a restart against the in-process simulator.
if(TARGET ispflow::genieacs AND TARGET ispflow::sim_genieacs)
  ispflow_add_gtest(NAME genieacs_intents_test
    SOURCES integration/genieacs_intents_test.cpp
    LIBS ispflow::genieacs ispflow::sim_genieacs ispflow::postgres
         ispflow::http ispflow::test_support ispflow::common
    LABELS "integration;genieacs;PG"
    PG)
endif()
