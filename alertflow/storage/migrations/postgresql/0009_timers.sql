-- The timer's two questions are "which waiting jobs are due" and "which leases have ended";
-- neither asks about ready jobs, which are most jobs and all of a bulk fan-out's. One partial
-- index per question leaves ready jobs out of both: a fan-out step writes one B-tree fewer
-- per recipient. The state is written into each query (queue.py) so SQLite can use them.
DROP INDEX jobs_timer;
CREATE INDEX jobs_due ON jobs(run_at) WHERE state = 2;
CREATE INDEX jobs_lease_end ON jobs(run_at) WHERE state = 1;
