# Installation layout and the Debian package (`cpack -G DEB` in the build
# directory makes ispflow_<version>_<arch>.deb). Debian 12 layout: programs
# in /usr/bin, configuration in /etc/ispflow (conffiles), the systemd unit
# and the system user's sysusers.d entry under /lib, data and docs in
# /usr/share. See docs/operations.md.

include(GNUInstallDirs)

set(ISPFLOW_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH
    "Where the systemd units are installed (absolute)")
set(ISPFLOW_SYSUSERS_DIR "/usr/lib/sysusers.d" CACHE PATH
    "Where the sysusers.d entry is installed (absolute)")
set(ISPFLOW_CONFIG_DIR "/etc/ispflow" CACHE PATH
    "Where the configuration is installed (absolute)")

install(TARGETS ispflowd ispflowctl ispflow-sim ispflow-bus
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

# The schema is embedded in ispflowd (migrations run at start); the files
# are shipped for DBAs and for FreeRADIUS's own schema (0001).
file(GLOB ispflow_install_schema CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/schema/*.sql)
install(FILES ${ispflow_install_schema}
        DESTINATION ${CMAKE_INSTALL_DATADIR}/ispflow/schema COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/events/schemas/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/ispflow/events
        COMPONENT runtime FILES_MATCHING PATTERN "*.json")
install(FILES ${PROJECT_SOURCE_DIR}/docs/events.asyncapi.yaml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/ispflow/events COMPONENT runtime)

install(FILES ${PROJECT_SOURCE_DIR}/deploy/etc/ispflow/ispflow.yaml
        DESTINATION ${ISPFLOW_CONFIG_DIR} COMPONENT runtime)
install(DIRECTORY DESTINATION ${ISPFLOW_CONFIG_DIR}/secrets COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/ispflowd.service
        DESTINATION ${ISPFLOW_SYSTEMD_UNIT_DIR} COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/ispflow.sysusers
        DESTINATION ${ISPFLOW_SYSUSERS_DIR} RENAME ispflow.conf
        COMPONENT runtime)

set(ispflow_install_docs ${PROJECT_SOURCE_DIR}/README.md)
foreach(doc operations.md security.md benchmarks.md)
  if(EXISTS ${PROJECT_SOURCE_DIR}/docs/${doc})
    list(APPEND ispflow_install_docs ${PROJECT_SOURCE_DIR}/docs/${doc})
  endif()
endforeach()
install(FILES ${ispflow_install_docs}
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)

# -- CPack --------------------------------------------------------------------

set(CPACK_PACKAGE_NAME ispflow)
set(CPACK_PACKAGE_VENDOR "ispflow")
set(CPACK_PACKAGE_CONTACT "ispflow maintainers <ispflow@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_CMAKE_PROJECTS
    "${CMAKE_BINARY_DIR};${PROJECT_NAME};runtime;/")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Subscriber lifecycle orchestrator for ISPs
 ispflowd consumes billing events from Kafka, records them exactly once in
 PostgreSQL and runs one durable saga per lifecycle change against
 FreeRADIUS, NetBox, VOLTHA/ONOS, GenieACS and AWX. ispflowctl drives its
 admin API; ispflow-sim and ispflow-bus are the network simulators and a
 mock Kafka cluster for smoke tests.")
# The runtime libraries, as dpkg-shlibdeps finds them from the binaries
# (libcaf-core0.17, librdkafka++1, libpqxx-6.4, libyaml-cpp0.7, ...).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
# adduser is the fallback of postinst when systemd-sysusers is missing.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql-client")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS
    "postgresql, freeradius, freeradius-postgresql, kcat")

configure_file(${PROJECT_SOURCE_DIR}/cmake/debian/conffiles.in
               ${CMAKE_BINARY_DIR}/debian/conffiles @ONLY)
foreach(script postinst prerm postrm)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/debian/${script}
                 ${CMAKE_BINARY_DIR}/debian/${script} COPYONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                                  GROUP_READ GROUP_EXECUTE WORLD_READ
                                  WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/debian/conffiles ${CMAKE_BINARY_DIR}/debian/postinst
    ${CMAKE_BINARY_DIR}/debian/prerm ${CMAKE_BINARY_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/build/;/\\\\.git/;/\\\\.cache/")
include(CPack)
