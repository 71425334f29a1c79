-- Which node holds a job's lease (see delivery/workers.py): at start-up a node takes back its
-- own leases at once and another node's only once they expire. NULL for jobs never claimed
-- and for leases taken before this column existed (those are taken back when they expire).
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
