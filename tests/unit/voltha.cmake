# VOLTHA adapter: outcome mappings, olt app paths and the simulator's fault
# JSON; no network.
ispflow_add_gtest(NAME voltha_mapping_test
  SOURCES unit/voltha_mapping_test.cpp
  LIBS ispflow::voltha ispflow::sim_voltha
  LABELS "unit;voltha")
