# Unit tests of the drift repair saga (sagas/repair_saga.*): kinds to steps,
# the definition, admission of the repair event, its drift.repaired output.
if(TARGET ispflow::sagas)
  ispflow_add_gtest(NAME sagas_repair_test
                    SOURCES unit/sagas_repair_test.cpp
                    LIBS ispflow::sagas ispflow::events
                    LABELS "unit;drift")
endif()
