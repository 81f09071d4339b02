# The simulators' shared HTTP host (sim/common) on an ephemeral loopback
# port: socket options of the connections it accepts.
if(TARGET ispflow::sim_common)
  ispflow_add_gtest(NAME sim_host_test
                    SOURCES integration/sim_host_test.cpp
                    LIBS ispflow::sim_common ispflow::test_support
                    LABELS integration)
endif()
