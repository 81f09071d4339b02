# Unit tests of the PostgreSQL adapter's text codecs (no server).
ispflow_add_gtest(NAME postgres_codec_test
                  SOURCES unit/postgres_codec_test.cpp
                  LIBS ispflow::postgres ispflow::events LABELS unit)
