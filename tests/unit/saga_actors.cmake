# Saga engine actors (router, saga actor, timer, in-memory store) on CAF's
# deterministic scheduler with recording fake adapters; no database.
ispflow_add_gtest(NAME saga_actors_test
  SOURCES unit/saga_actors_test.cpp
  LIBS ispflow::actors ispflow::test_fake_adapter
  LABELS unit)
# The actor system's scheduler as ispflowd sets it up (actors/scheduler).
ispflow_add_gtest(NAME actors_scheduler_test
  SOURCES unit/actors_scheduler_test.cpp
  LIBS ispflow::actors
  LABELS unit)
# The deadline watch (actors/deadline_watch), and saga actors whose request
# bounds it keeps, on CAF's threaded scheduler as ispflowd runs them.
ispflow_add_gtest(NAME deadline_watch_test
  SOURCES unit/deadline_watch_test.cpp
  LIBS ispflow::actors ispflow::test_fake_adapter
  LABELS unit)
