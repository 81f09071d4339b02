-- Drift repair (actors/drift, sagas/repair_saga.hpp). A scan with repair
-- writes, per subscriber with repairable differences, an inbox event of
-- type ispflow.drift.repair (source ispflow/drift) that the saga router
-- starts as a `repair` saga; drift_findings.repair names that event. A
-- difference no repair saga can fix (the record lacks what it needs, the
-- device is gone, no operation does it) is marked here with the reason and
-- what the operator should do; no saga step touches it.
ALTER TABLE drift_findings ADD COLUMN unrepairable text;
