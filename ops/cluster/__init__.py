"""Scaling out on NATS JetStream: the roles (ingest, worker, oms, Slack gateway), the subjects
they talk on, and the key-value buckets that carry leases, kills and heartbeats."""
