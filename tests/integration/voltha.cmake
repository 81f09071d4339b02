# VOLTHA simulator (gRPC + olt app REST) and the VOLTHA adapter actor
# against it, in-process on loopback ports picked by the OS.
ispflow_add_gtest(NAME voltha_sim_test
  SOURCES integration/voltha_sim_test.cpp
  LIBS ispflow::sim_voltha ispflow::voltha PkgConfig::HTTPLIB ispflow::test_support
       ispflow::rapidjson
  LABELS "integration;voltha")

ispflow_add_gtest(NAME voltha_adapter_test
  SOURCES integration/voltha_adapter_test.cpp
  LIBS ispflow::sim_voltha ispflow::voltha ispflow::common
  LABELS "integration;voltha")

# The gRPC runtime's set-up (abseil's deadlock detection off) by the client
# and the simulator; death tests.
ispflow_add_gtest(NAME voltha_grpc_runtime_test
  SOURCES integration/voltha_grpc_runtime_test.cpp
  LIBS ispflow::sim_voltha ispflow::voltha ispflow::voltha_proto
  LABELS "integration;voltha")
