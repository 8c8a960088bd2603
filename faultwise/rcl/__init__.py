"""RCLAgent: root cause localization for microservices by multi-agent recursion-of-thought over traces."""
