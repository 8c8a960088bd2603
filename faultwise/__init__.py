"""faultwise: automatic failure management for microservices (RCL) and RL fine-tuning runs (RFT)."""

__version__ = "0.1.0"
