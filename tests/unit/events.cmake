# Unit tests of events/: CloudEvents envelope, schemas, intake check, codecs.
ispflow_add_gtest(NAME events_envelope_test
                  SOURCES unit/events_envelope_test.cpp
                  LIBS ispflow::events LABELS unit)
ispflow_add_gtest(NAME events_schema_test
                  SOURCES unit/events_schema_test.cpp
                  LIBS ispflow::events LABELS unit)
ispflow_add_gtest(NAME events_intake_check_test
                  SOURCES unit/events_intake_check_test.cpp
                  LIBS ispflow::events LABELS unit)
ispflow_add_gtest(NAME events_codec_test
                  SOURCES unit/events_codec_test.cpp
                  LIBS ispflow::events LABELS unit)
