"""RFT-FM and RFT-FaultBench: failure management for reinforcement fine-tuning runs.

- :mod:`faultwise.rft.faultbench` — the benchmark: real GRPO runs (TRL) with injected faults, and its reader;
- :mod:`faultwise.rft.fm` — the failure manager: detect, diagnose and remediate, online or on logs;
- :mod:`faultwise.rft.records` and :mod:`faultwise.rft.signals` — the records and named signals both share;
- :mod:`faultwise.rft.cli` — the ``faultwise rft`` commands.
"""
