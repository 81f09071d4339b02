# The AWX adapter: its wire format without a server, and the actor against
# the in-process AWX simulator on an ephemeral loopback port.
if(TARGET ispflow::awx)
  ispflow_add_gtest(NAME awx_adapter_protocol_test
    SOURCES integration/awx_adapter_protocol_test.cpp
    LIBS ispflow::awx
    LABELS unit)
  if(TARGET ispflow::sim_awx)
    ispflow_add_gtest(NAME awx_adapter_test
      SOURCES integration/awx_adapter_test.cpp
      LIBS ispflow::awx ispflow::sim_awx ispflow::common
      LABELS "integration;awx")
  endif()
endif()
