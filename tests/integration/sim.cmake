# Contract tests of the HTTP simulators (NetBox, GenieACS, AWX) through a plain
# httplib client: statuses, reason phrases on the wire, faults.
if(TARGET ispflow::sim_netbox AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/sim_netbox_test.cpp)
  ispflow_add_gtest(NAME sim_netbox_test
                    SOURCES integration/sim_netbox_test.cpp
                    LIBS ispflow::sim_netbox ispflow::rapidjson
                    LABELS integration)
endif()
if(TARGET ispflow::sim_genieacs AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/sim_genieacs_test.cpp)
  ispflow_add_gtest(NAME sim_genieacs_test
                    SOURCES integration/sim_genieacs_test.cpp
                    LIBS ispflow::sim_genieacs ispflow::rapidjson
                    LABELS integration)
endif()
if(TARGET ispflow::sim_awx AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/sim_awx_test.cpp)
  ispflow_add_gtest(NAME sim_awx_test
                    SOURCES integration/sim_awx_test.cpp
                    LIBS ispflow::sim_awx ispflow::rapidjson
                    LABELS integration)
endif()
