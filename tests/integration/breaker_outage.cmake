# Issue 5's outage test: the real saga engine (router, saga actors, timer,
# in-memory store) on CAF's threaded scheduler, one NetBox adapter behind one
# shared guard, two tenants each with an in-process NetBox simulator on an
# ephemeral loopback port. Tenant a's NetBox goes down for a while: its
# breaker opens, its sagas park and all complete after it recovers, while
# tenant b's flow meanwhile. No PostgreSQL.
if(TARGET ispflow::netbox AND TARGET ispflow::sim_netbox
   AND TARGET ispflow::actors)
  ispflow_add_gtest(NAME breaker_outage_test
    SOURCES integration/breaker_outage_test.cpp
    LIBS ispflow::actors ispflow::netbox ispflow::http ispflow::resilience
         ispflow::sim_netbox ispflow::sagas ispflow::common
    LABELS "integration;netbox")
endif()
