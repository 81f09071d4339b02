# The NetBox adapter actor against the NetBox simulator, in-process on an
# ephemeral loopback port (no PostgreSQL).
if(TARGET ispflow::netbox AND TARGET ispflow::sim_netbox)
  ispflow_add_gtest(NAME netbox_adapter_test
    SOURCES integration/netbox_adapter_test.cpp
    LIBS ispflow::netbox ispflow::sim_netbox ispflow::common
    LABELS "integration;netbox")
endif()
