"""Support code of the RCL tests: a loopback chat server, LLM client helpers, user files written from
generated incidents."""
