# The NAS simulator's CoA/DM server against ispflow's CoA client, and its
# RADIUS client side against in-test UDP peers (no external servers).
ispflow_add_gtest(NAME radius_nas_test
                  SOURCES integration/radius_nas_test.cpp
                  LIBS ispflow::sim_nas ispflow::radius_protocol
                       PkgConfig::HTTPLIB
                  LABELS integration)
