//! Loading a folder: which files count, how they are chunked, and what fails.

use std::fs;

use knowledge::{KnowledgeBase, KnowledgeConfig, KnowledgeError, SkipReason};

use crate::{SHOP, config, knowledge_base, write_files};

#[test]
fn every_document_under_the_folder_is_indexed_recursively() {
    let (_dir, base) = knowledge_base(SHOP);
    let report = base.report();
    assert_eq!(
        (report.files, report.chunks, base.chunks()),
        (SHOP.len(), SHOP.len() + 1, SHOP.len() + 1)
    );
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    // returns-policy.md has two sections, so two chunks; the nested file keeps its folder in its uuid.
    assert_eq!(
        crate::uuids(&base, "refunds original payment method")[0],
        "returns-policy.md#1"
    );
    assert_eq!(
        crate::uuids(&base, "delete account erased")[0],
        "account/delete-account.md#0"
    );
}

#[test]
fn long_documents_are_split_within_chunk_chars_at_paragraphs_and_headings() {
    let dir = tempfile::tempdir().unwrap();
    let paragraph = |topic: &str| format!("The {topic} paragraph explains one thing about {topic} in a few words.");
    let text = format!(
        "# Manual\n\n{}\n\n{}\n\n## Cleaning\n\n{}\n\n{}\n\n## Storage\n\n{}",
        paragraph("assembly"),
        paragraph("power"),
        paragraph("cleaning"),
        "Rinse the jug. ".repeat(30),
        paragraph("storage"),
    );
    write_files(dir.path(), &[("manual.md", &text)]);
    let base = KnowledgeBase::load(KnowledgeConfig {
        chunk_chars: 160,
        ..config(dir.path())
    })
    .unwrap();
    assert!(base.chunks() >= 6, "{} chunks", base.chunks());
    for document in base.search("paragraph rinse jug manual cleaning storage assembly power", 50) {
        let content = &document.content;
        assert!(
            content.chars().count() <= 160,
            "{} chars: {content:?}",
            content.chars().count()
        );
        assert!(
            content.starts_with("# Manual"),
            "chunk without its heading path: {content:?}"
        );
        assert!(
            !(content.contains("cleaning paragraph") && content.contains("storage paragraph")),
            "{content:?}"
        );
        assert!(!content.ends_with("Rinse the"), "cut inside a sentence: {content:?}");
    }
    let storage = &base.search("storage", 1)[0].content;
    assert_eq!(storage, &format!("# Manual\n## Storage\n\n{}", paragraph("storage")));
}

#[test]
fn empty_non_utf8_oversized_hidden_and_other_files_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("good.md", "# Good\n\nThe good file talks about kettles."),
            ("empty.md", ""),
            ("blank.txt", "  \n\n\t"),
            ("headings-only.markdown", "# Title\n\n## Section"),
            ("big.txt", &"kettle ".repeat(200)),
            (".hidden.md", "kettles in a hidden file"),
            (".git/notes.md", "kettles in a hidden folder"),
            ("data.json", "{\"kettle\": true}"),
            ("upper.MD", "Upper-case extensions count too: kettle."),
        ],
    );
    fs::write(dir.path().join("latin1.txt"), b"caf\xe9 kettle").unwrap();
    let base = KnowledgeBase::load(KnowledgeConfig {
        max_file_bytes: 1000,
        ..config(dir.path())
    })
    .unwrap();
    let report = base.report();
    assert_eq!(report.files, 2, "{report:?}");
    let mut skipped: Vec<(String, SkipReason)> = report
        .skipped
        .iter()
        .map(|file| {
            (
                file.path.file_name().unwrap().to_string_lossy().into_owned(),
                file.reason.clone(),
            )
        })
        .collect();
    skipped.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        skipped,
        vec![
            ("big.txt".into(), SkipReason::TooLarge { bytes: 1400 }),
            ("blank.txt".into(), SkipReason::Empty),
            ("empty.md".into(), SkipReason::Empty),
            ("headings-only.markdown".into(), SkipReason::Empty),
            ("latin1.txt".into(), SkipReason::NotUtf8),
        ]
    );
    let mut found = crate::uuids(&base, "kettle");
    found.sort();
    assert_eq!(found, vec!["good.md#0", "upper.MD#0"]);
}

#[test]
fn a_missing_folder_or_a_file_instead_of_a_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let error = KnowledgeBase::load(config(&missing)).unwrap_err();
    assert!(matches!(error, KnowledgeError::ReadDir { .. }), "{error:?}");
    assert!(error.to_string().contains(&missing.display().to_string()), "{error}");

    let file = dir.path().join("file.md");
    fs::write(&file, "text").unwrap();
    let error = KnowledgeBase::load(config(&file)).unwrap_err();
    assert!(matches!(error, KnowledgeError::NotADirectory { .. }), "{error:?}");
    assert!(error.to_string().contains("file.md"), "{error}");

    let error = KnowledgeBase::load(KnowledgeConfig {
        top_k: 0,
        ..config(dir.path())
    })
    .unwrap_err();
    assert!(error.to_string().contains("`top_k`"), "{error}");
}

#[test]
fn without_a_folder_the_knowledge_base_is_empty() {
    let base = KnowledgeBase::load(KnowledgeConfig::default()).unwrap();
    assert_eq!(base.chunks(), 0);
    assert!(base.search("warranty", 3).is_empty());
    assert_eq!(base.reload().unwrap().chunks, 0);
}
