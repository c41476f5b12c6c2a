//! The sample folder `examples/knowledge/` answers the bundled call `examples/calls/knowledge.jsonl`, and keeps
//! quiet about what it does not cover.

use std::path::PathBuf;

use knowledge::{KnowledgeBase, KnowledgeConfig};
use vapi_types::{KnowledgeBaseRequest, MessageBody, OpenAiMessage};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn sample() -> KnowledgeBase {
    KnowledgeBase::load(KnowledgeConfig {
        dir: Some(examples().join("knowledge")),
        ..KnowledgeConfig::default()
    })
    .unwrap()
}

/// The `knowledge-base-request`s of the bundled call, parsed as the server parses them.
fn bundled_requests() -> Vec<KnowledgeBaseRequest> {
    let text = std::fs::read_to_string(examples().join("calls/knowledge.jsonl")).unwrap();
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| match vapi_types::parse_body(line.as_bytes()).unwrap().body {
            MessageBody::KnowledgeBaseRequest(request) => Some(request),
            _ => None,
        })
        .collect()
}

fn ask(text: &str) -> KnowledgeBaseRequest {
    KnowledgeBaseRequest {
        messages_openai_formatted: vec![OpenAiMessage {
            role: "user".into(),
            content: Some(text.into()),
            ..Default::default()
        }],
        messages: Vec::new(),
    }
}

fn files(base: &KnowledgeBase, request: &KnowledgeBaseRequest) -> Vec<String> {
    base.answer(request, None)
        .documents
        .unwrap()
        .into_iter()
        .map(|document| document.uuid.unwrap().split('#').next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_sample_folder_loads_every_page() {
    let report = sample().report();
    assert_eq!(report.files, 13, "{report:?}");
    assert!(report.skipped.is_empty(), "{report:?}");
}

#[test]
fn the_bundled_call_is_answered_from_the_sample_folder() {
    let base = sample();
    let requests = bundled_requests();
    assert_eq!(requests.len(), 2);
    // "Hi, what time does the central branch close on Saturdays?"
    let answer = base.answer(&requests[0], None).documents.unwrap();
    let first = answer.first().expect("a document for the opening-hours question");
    assert!(first.uuid.as_deref().unwrap().starts_with("hours.md#"), "{answer:?}");
    assert!(first.content.contains("Saturday: 10 am to 5 pm"), "{}", first.content);
    // The caller switches to Spanish; the folder is in English, so nothing is made up from it.
    assert_eq!(files(&base, &requests[1]), Vec::<String>::new());
}

#[test]
fn paraphrases_find_their_page_and_questions_off_the_folder_find_none() {
    let base = sample();
    for (question, expected) in [
        ("when do you close on saturday", "hours.md"),
        ("i want to get a library card", "library-cards.md"),
        ("can i renew my books", "borrowing-and-renewals.md"),
        ("do you have wifi", "computers-and-printing.md"),
        ("how much does printing cost", "computers-and-printing.md"),
    ] {
        let found = files(&base, &ask(question));
        assert_eq!(
            found.first().map(String::as_str),
            Some(expected),
            "{question:?}: {found:?}"
        );
    }
    // Two pages answer this one: the loan periods, then what a late return costs.
    let found = files(&base, &ask("the dvd i borrowed is really late"));
    assert_eq!(
        found[..2],
        ["borrowing-and-renewals.md", "fines-and-fees.md"],
        "{found:?}"
    );
    for question in [
        "what's the weather going to be like",
        "do you sell coffee",
        "can i book a flight",
    ] {
        assert_eq!(files(&base, &ask(question)), Vec::<String>::new(), "{question:?}");
    }
}
