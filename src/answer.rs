//! Default answers for the message types that need one, used where no tool, rule or knowledge base applies.
//!
//! Pure functions from a request to its response type, so each default is documented and tested in one place.

use vapi_types::response::{FunctionCallResponse, KnowledgeBaseResponse};
use vapi_types::{ToolCallResult, ToolCallsRequest, ToolCallsResponse};

/// `tool-calls` with no registered tools: an error result per call naming the unknown tool.
pub fn unknown_tools(request: &ToolCallsRequest) -> ToolCallsResponse {
    ToolCallsResponse {
        results: request
            .tool_call_list
            .iter()
            .map(|call| ToolCallResult::err(&call.id, &call.function.name, unknown_tool(&call.function.name)))
            .collect(),
        error: None,
    }
}

/// The error text for a tool nobody registered.
pub fn unknown_tool(name: &str) -> String {
    format!("unknown tool `{name}`: no tool with this name is registered on this server")
}

/// Legacy `function-call` with no registered tools: the result text says the function is unknown.
pub fn unknown_function(name: &str) -> FunctionCallResponse {
    FunctionCallResponse {
        result: unknown_tool(name),
    }
}

/// `knowledge-base-request` with no knowledge base: no documents.
pub fn no_documents() -> KnowledgeBaseResponse {
    KnowledgeBaseResponse {
        documents: Some(Vec::new()),
        message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vapi_types::{FunctionCall, ToolCall};

    #[test]
    fn unknown_tools_answer_every_call() {
        let call = |id: &str, name: &str| ToolCall {
            id: id.into(),
            kind: Some("function".into()),
            function: FunctionCall {
                name: name.into(),
                arguments: Default::default(),
            },
        };
        let request = ToolCallsRequest {
            tool_call_list: vec![call("a", "lookup"), call("b", "book")],
            tool_with_tool_call_list: vec![],
        };
        let response = unknown_tools(&request);
        let ids: Vec<_> = response.results.iter().map(|r| r.tool_call_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(response.results[1].name.as_deref(), Some("book"));
        assert!(
            response.results[1]
                .error
                .as_deref()
                .unwrap()
                .contains("unknown tool `book`")
        );
        assert!(response.results.iter().all(|r| r.result.is_none()));
    }
}
