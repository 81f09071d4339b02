# The NetBox adapter's wire helpers (URLs, bodies, answers), no I/O.
if(TARGET ispflow::netbox)
  ispflow_add_gtest(NAME netbox_wire_test
    SOURCES unit/netbox_wire_test.cpp
    LIBS ispflow::netbox ispflow::rapidjson
    LABELS "unit;netbox")
endif()
