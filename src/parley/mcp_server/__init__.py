"""The MCP server: Parley's memory and data as Model Context Protocol tools and resources,
built on the official `mcp` SDK. Served at /mcp (streamable HTTP) by `parley serve`, and over
stdio by `parley mcp --stdio`; both run the same tools, which call the services the HTTP
routes call, under the same access policy (`parley.api.deps.authorize_scope`)."""
