//! No query text, however odd, makes searching or query building panic or leave the documented ranges.

use std::sync::OnceLock;

use knowledge::{KnowledgeBase, build_query};
use proptest::prelude::*;
use tempfile::TempDir;
use vapi_types::{KnowledgeBaseRequest, OpenAiMessage};

fn shared() -> &'static (TempDir, KnowledgeBase) {
    static BASE: OnceLock<(TempDir, KnowledgeBase)> = OnceLock::new();
    BASE.get_or_init(|| crate::knowledge_base(crate::SHOP))
}

/// The shop folder ranked by meaning as well, with the installed sentence encoder.
fn shared_with_encoder() -> &'static (TempDir, KnowledgeBase) {
    static BASE: OnceLock<(TempDir, KnowledgeBase)> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        crate::write_files(dir.path(), crate::SHOP);
        let base = crate::by_meaning(dir.path());
        (dir, base)
    })
}

/// At most `top_k` results for `query`, each with a similarity in `0..=1`, best first.
fn in_range(base: &KnowledgeBase, query: &str, top_k: usize) -> Result<(), TestCaseError> {
    let results = base.search(query, top_k);
    prop_assert!(results.len() <= top_k);
    for document in &results {
        prop_assert!((0.0..=1.0).contains(&document.similarity));
    }
    for pair in results.windows(2) {
        prop_assert!(pair[0].similarity >= pair[1].similarity);
    }
    Ok(())
}

fn query_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        r#"[a-zA-Z"():^+*~\-\[\]{}!?\\/ ]{0,80}"#,
        r#"(refund|warranty|AND|OR|NOT|"|\(|\)|:|\^2|\+|-|\*|~1|field:value|\s){0,30}"#,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any text, up to far past the encoder's 256 word pieces, with newlines (a widened query's shape).
    #[test]
    fn search_by_meaning_never_panics_and_stays_in_range(
        query in prop_oneof![query_text(), "(\\PC{0,40}\n){0,4}\\PC{0,3000}"],
        top_k in 0usize..8,
    ) {
        let (_dir, base) = shared_with_encoder();
        in_range(base, &query, top_k)?;
    }
}

proptest! {
    #[test]
    fn search_never_panics_and_stays_in_range(query in query_text(), top_k in 0usize..20) {
        let (_dir, base) = shared();
        in_range(base, &query, top_k)?;
    }

    #[test]
    fn build_query_never_panics_and_respects_max_chars(
        turns in proptest::collection::vec(("(user|assistant|system|tool|bot)", query_text()), 0..6),
        max_chars in 16usize..200,
    ) {
        let request = KnowledgeBaseRequest {
            messages_openai_formatted: turns
                .iter()
                .map(|(role, content)| OpenAiMessage { role: role.clone(), content: Some(content.clone()), ..Default::default() })
                .collect(),
            messages: Vec::new(),
        };
        let query = build_query(&request, None, max_chars);
        prop_assert!(query.chars().count() <= max_chars, "{} > {max_chars}", query.chars().count());
        let (_dir, base) = shared();
        let answer = base.answer(&request, None);
        prop_assert!(answer.documents.is_some());
    }
}
