"""The MCP server for agents (`just mcp`): the data API's reads and the semantic layer as tools."""
