# PostgreSQL adapter: migrations, intake store, outbox store.
ispflow_add_gtest(NAME postgres_migrations_test
  SOURCES integration/postgres_migrations_test.cpp
  LIBS ispflow::postgres ispflow::test_support
  LABELS integration PG)
ispflow_add_gtest(NAME postgres_store_test
  SOURCES integration/postgres_store_test.cpp
  LIBS ispflow::postgres ispflow::test_support
  LABELS integration PG)
