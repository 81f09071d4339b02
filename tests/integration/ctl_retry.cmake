# ispflowctl end to end (issue 6): a terminate saga stopped in
# needs_attention by a CPE fault in the GenieACS simulator, retried with
# `ispflowctl sagas retry` against the admin server and the real saga engine
# over PostgreSQL (RADIUS, NetBox, VOLTHA faked). Ephemeral ports only.
if(TARGET ispflowctl AND TARGET ispflow::genieacs
   AND TARGET ispflow::sim_genieacs)
  ispflow_add_gtest(NAME ctl_retry_test
    SOURCES integration/ctl_retry_test.cpp
    LIBS ispflow::actors ispflow::admin ispflow::genieacs ispflow::sim_genieacs
         ispflow::http ispflow::resilience ispflow::postgres ispflow::events
         ispflow::sagas ispflow::test_support ispflow::test_fake_adapter
         ispflow::rapidjson
    LABELS integration PG)
  target_compile_definitions(ctl_retry_test PRIVATE
    ISPFLOWCTL="$<TARGET_FILE:ispflowctl>")
  add_dependencies(ctl_retry_test ispflowctl)
endif()
