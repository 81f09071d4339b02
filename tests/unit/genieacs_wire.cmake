# The GenieACS adapter's wire helpers (ids, URLs, tasks, reason phrases).
if(TARGET ispflow::genieacs)
  ispflow_add_gtest(NAME genieacs_wire_test
    SOURCES unit/genieacs_wire_test.cpp
    LIBS ispflow::genieacs ispflow::rapidjson
    LABELS "unit;genieacs")
endif()
