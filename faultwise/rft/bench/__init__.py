"""RFT-FaultBench: fault-injected RL fine-tuning runs, generated for real."""
