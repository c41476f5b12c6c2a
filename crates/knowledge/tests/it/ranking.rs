//! Ranking on a small corpus where the relevant document is known.

use knowledge::{KnowledgeBase, KnowledgeConfig};

use crate::{SHOP, knowledge_base};

#[test]
fn the_relevant_document_ranks_first() {
    let (_dir, base) = knowledge_base(SHOP);
    let min = KnowledgeConfig::default().min_similarity();
    let check = |query: &str, expected_uuid_prefix: &str| {
        let results = base.search(query, 3);
        let first = results.first().unwrap_or_else(|| panic!("no result for {query:?}"));
        let uuid = first.uuid.as_deref().unwrap();
        assert!(
            uuid.starts_with(expected_uuid_prefix),
            "{query:?}: got {uuid}, expected {expected_uuid_prefix}"
        );
        assert!(
            first.similarity >= min,
            "{query:?}: best similarity {} is under {min}",
            first.similarity
        );
    };
    check("What is your return policy?", "returns-policy.md#");
    check("how do I get my money refunded", "returns-policy.md#");
    check("how long does standard shipping take", "shipping.md#");
    check("do you ship to Canada", "shipping.md#");
    check("are you open on Sunday", "opening-hours.md#");
    check("what time do you close on Saturday", "opening-hours.md#");
    check("my toaster broke, is it covered by the warranty?", "warranty.md#");
    check("I forgot my password and can't sign in", "password-reset.md#");
    check("how much is the pro plan per month", "pricing.txt#");
    check("can I pay with PayPal", "payment-methods.md#");
    check("do gift cards expire", "gift-cards.md#");
    check("how do I delete my account", "account/delete-account.md#");
    check("where are your stores located", "store-locations.md#");
    check("what's the phone number for the support line", "contact-support.md#");
}

#[test]
fn similarities_are_in_range_and_descending_and_top_k_is_respected() {
    let (_dir, base) = knowledge_base(SHOP);
    for query in [
        "account support password",
        "days",
        "gift cards dollars month",
        "the warranty on my blender",
    ] {
        for top_k in [1, 2, 5, 50] {
            let results = base.search(query, top_k);
            assert!(
                !results.is_empty() && results.len() <= top_k,
                "{query:?} top {top_k}: {}",
                results.len()
            );
            for document in &results {
                assert!(
                    (0.0..=1.0).contains(&document.similarity),
                    "{query:?}: {}",
                    document.similarity
                );
                assert!(!document.content.is_empty());
            }
            for pair in results.windows(2) {
                assert!(pair[0].similarity >= pair[1].similarity, "{query:?}: not descending");
            }
        }
    }
    assert!(base.search("warranty", 0).is_empty());
}

#[test]
fn irrelevant_or_empty_queries_find_nothing() {
    let (dir, words) = knowledge_base(SHOP);
    let meaning = crate::by_meaning(dir.path());
    for base in [&words, &meaning] {
        let min = base.config().min_similarity();
        for query in [
            "zebra quantum violin",
            "",
            "   ",
            "yes",
            "hello?",
            "what about that?",
            "?!",
            "\n\n",
        ] {
            let relevant: Vec<_> = base
                .search(query, 3)
                .into_iter()
                .filter(|d| d.similarity >= min)
                .collect();
            assert!(relevant.is_empty(), "{query:?} found {relevant:?}");
        }
    }
}

#[test]
fn a_passing_mention_is_less_similar_than_a_full_match() {
    let (_dir, base) = knowledge_base(SHOP);
    // "delivery" appears in passing in the returns and payment documents; the whole question matches shipping.
    let full = base.search("express shipping business days", 1)[0].similarity;
    let partial = base.search("zebra quantum violin delivery", 1)[0].similarity;
    assert!(full > 0.5, "full match {full}");
    assert!(
        partial < KnowledgeConfig::default().min_similarity(),
        "passing mention {partial}"
    );
}

#[test]
fn uuids_are_stable_across_loads() {
    let (_dir, first) = knowledge_base(SHOP);
    let (_other, second) = knowledge_base(SHOP);
    for query in ["refund", "warranty blender", "pro plan"] {
        assert_eq!(crate::uuids(&first, query), crate::uuids(&second, query), "{query:?}");
    }
}

/// A dentist FAQ whose pages use the practice's words, not the caller's.
const DENTIST: &[(&str, &str)] = &[
    (
        "insurance.md",
        "# Insurance\n\nWe are in network with Delta Dental and Cigna, and we accept Medicaid for children and adults.",
    ),
    (
        "financing.md",
        "# Financing\n\nTreatment over 500 dollars can be spread over six monthly payments with no interest.",
    ),
    (
        "billing.md",
        "# Billing office\n\nStatements are emailed monthly. The billing office answers balance questions.",
    ),
    (
        "whitening.md",
        "# Whitening\n\nIn-office whitening takes 90 minutes and costs 450 dollars. Trays for home use cost 295 dollars.",
    ),
    (
        "cleanings.md",
        "# Cleanings\n\nWe recommend a cleaning and checkup every six months. A cleaning takes about an hour.",
    ),
    (
        "sedation.md",
        "# Sedation\n\nAnxious patients can relax with nitrous oxide during treatment.",
    ),
];

#[test]
fn callers_words_find_pages_written_in_other_words() {
    let (_dir, base) = knowledge_base(DENTIST);
    let min = KnowledgeConfig::default().min_similarity();
    for (question, expected) in [
        ("do you take medi-cal", "insurance.md#"),
        ("can I pay in instalments", "financing.md#"),
        ("can I pay it in installments", "financing.md#"),
        ("who do I talk to about a bill", "billing.md#"),
        ("I'm scared", "sedation.md#"),
        ("how much are the take-home trays", "whitening.md#"),
    ] {
        let results = base.search(question, 3);
        let first = results.first().unwrap_or_else(|| panic!("no result for {question:?}"));
        assert!(
            first.uuid.as_deref().unwrap().starts_with(expected) && first.similarity >= min,
            "{question:?}: {results:?}"
        );
    }
}

/// A library and a dentist's pages, none of which uses the callers' words below.
const OTHER_WORDS: &[(&str, &str)] = &[
    (
        "holds.md",
        "# Requests\n\nPlace a hold on any book or film in the catalogue and pick it up at the branch you choose.",
    ),
    (
        "hours.md",
        "# Opening hours\n\nMonday to Friday 9 am to 6 pm. Saturday 10 am to 4 pm. Sunday closed.",
    ),
    (
        "whitening.md",
        "# Brighter smiles\n\nWe whiten natural teeth in one visit of 90 minutes, or with trays you take home.",
    ),
    (
        "extractions.md",
        "# Extractions\n\nWe remove teeth that cannot be saved. Eat soft food for a day afterwards.",
    ),
    (
        "cards.md",
        "# Library cards\n\nA card is free for anyone who lives in the city. Bring a photo ID.",
    ),
];

#[test]
fn a_word_no_page_uses_finds_its_page_through_wordnet() {
    let (_dir, base) = knowledge_base(OTHER_WORDS);
    let min = KnowledgeConfig::default().min_similarity();
    for (question, expected) in [
        ("can i reserve a book", "holds.md#"),
        ("are you open on the weekend", "hours.md#"),
        ("i want whiter teeth", "whitening.md#"),
    ] {
        let results = base.search(question, 3);
        let first = results.first().unwrap_or_else(|| panic!("no result for {question:?}"));
        assert!(
            first.uuid.as_deref().unwrap().starts_with(expected) && first.similarity >= min,
            "{question:?}: {results:?}"
        );
    }
    // Related words lift only pages that use them: a question whose words relate to no page finds nothing.
    for question in [
        "what's the weather going to be like",
        "can you recommend a good plumber",
    ] {
        let results = base.search(question, 3);
        assert!(
            results.iter().all(|document| document.similarity < min),
            "{question:?}: {results:?}"
        );
    }
}

#[test]
fn meaning_answers_questions_the_words_alone_leave_unanswered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/hotel");
    let base = crate::by_meaning(&dir);
    let min = base.config().min_similarity();
    let words_only = KnowledgeBase::load(crate::config(&dir)).unwrap();
    let words_min = KnowledgeConfig::WORDS_MIN_SIMILARITY;
    for (question, expected) in [
        ("where can i wash my clothes", "amenities.md#"),
        (
            "we're getting married next summer can we have the reception there",
            "meetings-and-weddings.md#",
        ),
        ("can i bring my labrador", "pets.md#"),
        ("can i charge my tesla", "parking-and-transport.md#"),
    ] {
        let results = base.search(question, 3);
        let first = results.first().unwrap_or_else(|| panic!("no result for {question:?}"));
        assert!(
            first.uuid.as_deref().unwrap().starts_with(expected) && first.similarity >= min,
            "{question:?}: {results:?}"
        );
        // Ranked by words alone, the right page is found too weakly to be answered; its meaning is close.
        let page: Vec<(String, f64, f64)> = base
            .explain(question)
            .into_iter()
            .filter(|(uuid, ..)| uuid.starts_with(expected))
            .collect();
        let lexical = page.iter().map(|chunk| chunk.1).fold(0.0, f64::max);
        let cosine = page.iter().map(|chunk| chunk.2).fold(0.0, f64::max);
        assert!(lexical < words_min && cosine > 0.4, "{question:?}: {page:?}");
        let words = words_only.search(question, 3);
        assert!(
            words.iter().all(|document| document.similarity < words_min),
            "{question:?}: {words:?}"
        );
    }
    // Off-topic questions stay unanswered.
    for question in ["is there a golf course nearby", "are you hiring housekeepers"] {
        let results = base.search(question, 3);
        assert!(
            results.iter().all(|document| document.similarity < min),
            "{question:?}: {results:?}"
        );
    }
}

#[test]
fn a_broken_or_missing_encoder_is_an_error_naming_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let load = |encoder: &std::path::Path| {
        KnowledgeBase::load(KnowledgeConfig {
            encoder: Some(encoder.to_owned()),
            ..KnowledgeConfig::default()
        })
        .unwrap_err()
        .to_string()
    };
    let error = load(dir.path());
    assert!(error.contains("config.json"), "{error}");
    // A real configuration and tokenizer with weights that are not a model.
    let real = crate::encoder_dir();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::copy(real.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::write(dir.path().join("model.safetensors"), b"not a model").unwrap();
    let error = load(dir.path());
    assert!(error.contains("model.safetensors"), "{error}");
    // A truncated tokenizer.
    std::fs::copy(real.join("model.safetensors"), dir.path().join("model.safetensors")).unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), b"{\"version\": ").unwrap();
    let error = load(dir.path());
    assert!(error.contains("tokenizer.json"), "{error}");
}
