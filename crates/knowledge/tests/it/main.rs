//! Integration tests of the knowledge base: real folders in temp dirs, real indexes, no mocks.

mod answer;
mod corpus;
mod examples;
mod properties;
mod ranking;
mod reload;

use std::fs;
use std::path::Path;

use knowledge::{KnowledgeBase, KnowledgeConfig};
use tempfile::TempDir;

/// A small shop's knowledge base: each file answers one kind of question.
pub(crate) const SHOP: &[(&str, &str)] = &[
    (
        "returns-policy.md",
        "# Returns policy\n\nYou can return any item within 30 days of delivery for a full refund. Items must be \
         unused and in their original packaging.\n\n## Refunds\n\nRefunds are issued to the original payment method \
         within 5 business days after we receive the returned item.",
    ),
    (
        "shipping.md",
        "# Shipping times\n\nStandard shipping takes 3 to 5 business days. Express shipping arrives in 1 to 2 \
         business days. We ship to the United States and Canada.\n\nOrders placed before 2 pm ship the same day.",
    ),
    (
        "opening-hours.md",
        "# Opening hours\n\nOur shop is open Monday to Friday from 9 am to 6 pm and Saturday from 10 am to 4 pm. \
         We are closed on Sunday. Holiday hours are posted on the door.",
    ),
    (
        "warranty.md",
        "# Warranty\n\nAll appliances, including blenders, toasters and kettles, come with a two-year limited \
         warranty covering defects in materials and workmanship. The warranty lasts 24 months from the date of \
         purchase. Keep your receipt as proof of purchase.",
    ),
    (
        "password-reset.md",
        "# Resetting your password\n\nTo reset your account password, open the sign-in page and choose Forgot \
         password. We email you a reset link that expires after one hour.",
    ),
    (
        "pricing.txt",
        "Pricing\n\nThe Basic plan costs 10 dollars per month. The Pro plan costs 25 dollars per month and includes \
         priority support. Annual billing saves 20 percent.",
    ),
    (
        "contact-support.md",
        "# Contact support\n\nCall our support line at 555-0100 or email help@example.com. Support agents answer \
         the phone around the clock.",
    ),
    (
        "payment-methods.md",
        "# Payment methods\n\nWe accept Visa, Mastercard, American Express, PayPal and gift cards. Cash on delivery \
         is not available.",
    ),
    (
        "gift-cards.md",
        "# Gift cards\n\nGift cards are sold in amounts from 10 to 500 dollars and never expire. Lost gift cards \
         cannot be replaced.",
    ),
    (
        "account/delete-account.md",
        "# Deleting your account\n\nTo close and delete your account, contact support. Your data is erased within \
         30 days.",
    ),
    (
        "store-locations.md",
        "# Store locations\n\nWe have stores in Portland, Seattle and Denver. Parking is free at every store.",
    ),
];

/// Writes `files` (relative path, text) under `dir`, creating folders as needed.
pub(crate) fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

/// A temp folder holding `files`, and a knowledge base loaded from it with the default settings.
pub(crate) fn knowledge_base(files: &[(&str, &str)]) -> (TempDir, KnowledgeBase) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), files);
    let base = KnowledgeBase::load(config(dir.path())).unwrap();
    (dir, base)
}

/// The sentence encoder's folder, as `scripts/install-encoder` (run by the README's test command) installs it.
pub(crate) fn encoder_dir() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.models/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").is_file(),
        "{}: run scripts/install-encoder",
        dir.display()
    );
    dir
}

/// The folder `dir` ranked by meaning as well as words, with the installed sentence encoder.
pub(crate) fn by_meaning(dir: &Path) -> KnowledgeBase {
    KnowledgeBase::load(KnowledgeConfig {
        encoder: Some(encoder_dir()),
        ..config(dir)
    })
    .unwrap()
}

/// The default config, reading `dir`.
pub(crate) fn config(dir: &Path) -> KnowledgeConfig {
    KnowledgeConfig {
        dir: Some(dir.to_owned()),
        ..KnowledgeConfig::default()
    }
}

/// The uuids of the results for `query`, best first.
pub(crate) fn uuids(base: &KnowledgeBase, query: &str) -> Vec<String> {
    base.search(query, 10)
        .into_iter()
        .filter_map(|document| document.uuid)
        .collect()
}
