"""shmcp-agent: the reference agent service (standard library + shmcp).

POST /v1/agent/run streams a tool-calling run as Server-Sent Events; the model is any
OpenAI-compatible chat-completions endpoint and every tool call runs in the shmcp executor.
See server.py for the endpoints and `shmcp-agent --help` for configuration.
"""
