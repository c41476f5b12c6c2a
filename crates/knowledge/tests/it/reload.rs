//! Reloading: added, changed and removed files show up; a failed reload keeps the old index answering.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crate::{SHOP, knowledge_base, write_files};

#[test]
fn reload_picks_up_added_changed_and_removed_files() {
    let (dir, base) = knowledge_base(SHOP);
    let before = base.chunks();
    // Other pages may be faintly related to "loyalty points" (WordNet: point → item, location); no loyalty page.
    let loyalty_page = |base: &knowledge::KnowledgeBase| {
        crate::uuids(base, "loyalty points")
            .iter()
            .any(|uuid| uuid.starts_with("loyalty.md"))
    };
    assert!(!loyalty_page(&base));
    let sunday = |base: &knowledge::KnowledgeBase| base.search("open on Sunday", 1)[0].content.clone();
    assert!(sunday(&base).contains("closed on Sunday"));
    assert_eq!(crate::uuids(&base, "pro plan")[0], "pricing.txt#0");

    write_files(
        dir.path(),
        &[(
            "loyalty.md",
            "# Loyalty program\n\nEvery dollar spent earns two loyalty points.",
        )],
    );
    fs::write(
        dir.path().join("opening-hours.md"),
        "# Opening hours\n\nWe are now open on Sunday from 11 am to 3 pm.",
    )
    .unwrap();
    fs::remove_file(dir.path().join("pricing.txt")).unwrap();
    // Nothing changes until the reload.
    assert!(!loyalty_page(&base));

    let report = base.reload().unwrap();
    assert_eq!((report.files, report.chunks), (SHOP.len(), before));
    assert_eq!(base.chunks(), before);
    assert_eq!(crate::uuids(&base, "loyalty points")[0], "loyalty.md#0");
    assert!(sunday(&base).contains("open on Sunday from 11 am"));
    assert!(
        !crate::uuids(&base, "pro plan")
            .iter()
            .any(|uuid| uuid.starts_with("pricing.txt"))
    );
}

#[test]
fn a_failed_reload_keeps_the_old_index_in_service() {
    let (dir, base) = knowledge_base(SHOP);
    let moved = dir.path().with_extension("moved");
    fs::rename(dir.path(), &moved).unwrap();
    let error = base.reload().unwrap_err();
    assert!(error.to_string().contains(&dir.path().display().to_string()), "{error}");
    assert_eq!(base.chunks(), SHOP.len() + 1);
    assert_eq!(crate::uuids(&base, "warranty blender")[0], "warranty.md#0");

    fs::rename(&moved, dir.path()).unwrap();
    fs::remove_file(dir.path().join("warranty.md")).unwrap();
    base.reload().unwrap();
    assert!(
        !crate::uuids(&base, "warranty blender")
            .iter()
            .any(|uuid| uuid.starts_with("warranty.md"))
    );
}

#[test]
fn searches_keep_answering_while_reloads_swap_the_index() {
    let (_dir, base) = knowledge_base(SHOP);
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let searcher = scope.spawn(|| {
            let mut searches = 0;
            while !done.load(Ordering::Relaxed) || searches == 0 {
                assert_eq!(crate::uuids(&base, "gift cards expire")[0], "gift-cards.md#0");
                searches += 1;
            }
            searches
        });
        let clone = base.clone();
        for _ in 0..5 {
            clone.reload().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        assert!(searcher.join().unwrap() > 0);
    });
}

#[test]
fn a_reload_ranks_new_pages_by_meaning_with_the_same_encoder() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), SHOP);
    let base = crate::by_meaning(dir.path());
    let min = base.config().min_similarity();
    // No page shares a word with the question, and none answers it yet.
    let question = "can i bring my labrador";
    assert!(
        base.search(question, 3)
            .iter()
            .all(|document| document.similarity < min),
        "{:?}",
        base.search(question, 3)
    );
    write_files(
        dir.path(),
        &[(
            "pets.md",
            "# Pets\n\nDogs on a lead are welcome in every shop. Service animals are always welcome.",
        )],
    );
    base.reload().unwrap();
    let found = base.search(question, 1);
    assert!(
        found[0].uuid.as_deref() == Some("pets.md#0") && found[0].similarity >= min,
        "{found:?}"
    );
}
