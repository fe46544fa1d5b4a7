"""The data agent (`/api/v1/ai-agent`): questions about a project's data answered with checked,
read-only SQL, in threads that are memory sessions with the asking user."""
