# Drift reconciliation: the pure comparison of record and observed state.
if(TARGET ispflow::drift)
  ispflow_add_gtest(NAME drift_compare_test
    SOURCES unit/drift_compare_test.cpp
    LIBS ispflow::drift
    LABELS "unit;drift")
endif()
