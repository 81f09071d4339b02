# Circuit breaker transitions on a manual clock, the breaker registry, the
# per-tenant limiter, the guard adapters use, and in-adapter retries.
ispflow_add_gtest(NAME resilience_breaker_test
  SOURCES unit/resilience_breaker_test.cpp
  LIBS ispflow::resilience
  LABELS unit)
ispflow_add_gtest(NAME resilience_guard_test
  SOURCES unit/resilience_guard_test.cpp
  LIBS ispflow::resilience
  LABELS unit)
