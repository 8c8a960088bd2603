"""RFT-FM and RFT-FaultBench: failure management for reinforcement fine-tuning runs."""
