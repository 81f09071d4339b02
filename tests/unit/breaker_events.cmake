# Breaker transitions as saga.events.v1 records, validated against
# events/schemas/saga.breaker_*.json.
ispflow_add_gtest(NAME breaker_events_test
  SOURCES unit/breaker_events_test.cpp
  LIBS ispflow::resilience ispflow::events ispflow::rapidjson
  LABELS unit)
