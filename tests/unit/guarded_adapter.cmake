# The breaker-and-limit wrapper around adapters that do not guard
# themselves, on CAF's deterministic scheduler with a recording fake.
ispflow_add_gtest(NAME guarded_adapter_test
  SOURCES unit/guarded_adapter_test.cpp
  LIBS ispflow::actors ispflow::resilience ispflow::test_fake_adapter
  LABELS unit)
