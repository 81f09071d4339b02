# Installing at an ISP (tests/deploy): the Debian package built with cpack,
# unpacked into a temporary root and started from there against the test
# PostgreSQL with a NOTIFY_SOCKET of its own; the container and Kubernetes
# files validated offline against the schemas in tests/data; the
# configuration reference in docs/operations.md against the code.
add_test(NAME deploy.deb_package_installs_and_starts
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/deploy/deb_package_test.sh
                 ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(deploy.deb_package_installs_and_starts PROPERTIES
  LABELS integration TIMEOUT 600 FIXTURES_REQUIRED pg
  RESOURCE_LOCK deploy-deb
  ENVIRONMENT "ISPFLOW_TEST_PG_DSN=${ISPFLOW_TEST_PG_DSN}")
add_test(NAME deploy.systemd_unit_verifies
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/deploy/systemd_unit_test.sh
                 ${PROJECT_SOURCE_DIR}/deploy/systemd/ispflowd.service
                 $<TARGET_FILE_DIR:ispflowd>
                 ${CMAKE_BINARY_DIR}/deploy-systemd-test)
set_tests_properties(deploy.systemd_unit_verifies PROPERTIES
  LABELS integration TIMEOUT 120)
# Offline: no container daemon or cluster; see tests/data/schemas/README.md.
add_test(NAME deploy.compose_and_k8s_manifests_validate
         COMMAND /usr/bin/python3
                 ${CMAKE_CURRENT_SOURCE_DIR}/deploy/manifests_test.py
                 ${PROJECT_SOURCE_DIR} $<TARGET_FILE:ispflowd>
                 ${PROJECT_VERSION})
set_tests_properties(deploy.compose_and_k8s_manifests_validate PROPERTIES
  LABELS integration TIMEOUT 120)
