"""describe_error: one line a person can read, whatever wrapped the error."""

from lib.errors import describe_error


def test_the_error_of_a_timed_out_mcp_server_says_it_timed_out():
    from agents.mcp._compat import MCPError

    # What the SDK's MCP client raises when a server never answers `initialize`.
    error = ExceptionGroup(
        "unhandled errors in a TaskGroup",
        [
            ExceptionGroup(
                "unhandled errors in a TaskGroup",
                [MCPError(-32001, "Request 'initialize' timed out")],
            )
        ],
    )

    assert "Request 'initialize' timed out" in describe_error(error)
