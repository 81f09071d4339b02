# Unit tests of sagas/outputs (emit commands as CloudEvents records, checked
# against events/schemas) and sagas/admission (colliding billing events).
# Guarded so that this file is harmless while sagas/ is not part of the build.
if(TARGET ispflow::sagas)
  ispflow_add_gtest(NAME sagas_outputs_test
                    SOURCES unit/sagas_outputs_test.cpp
                    LIBS ispflow::sagas ispflow::events LABELS unit)
  ispflow_add_gtest(NAME sagas_admission_test
                    SOURCES unit/sagas_admission_test.cpp
                    LIBS ispflow::sagas LABELS unit)
endif()
