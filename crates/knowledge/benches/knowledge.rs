//! Knowledge-base benchmarks on a synthetic 10,000-chunk corpus: index build time, query latency (criterion
//! mean, then p50/p99 over 2,000 queries), and a brute-force substring scan over the same chunks as the baseline.
//!
//! `cargo bench -p knowledge --bench knowledge` runs it. The corpus is generated deterministically (a seeded
//! generator, a 6,000-word synthetic vocabulary drawn with a Zipf distribution so some words are common and most
//! rare), written as 1,000 Markdown files of 10 sections each into a temp folder, and loaded with the default
//! config: one chunk per section.
//!
//! A second group asks the development questions of the retrieval evaluation (`eval/dev-*.jsonl`, real caller
//! English, so the synonym table, WordNet's related words and the sentence encoder do their work) of their real
//! folders, ranked by words alone (the default) and by words and meaning (with the sentence encoder installed by
//! `scripts/install-encoder`), in the same run: criterion means, then p50/p99 over every question asked 20 times
//! (once under `cargo test`). The first load of the folders with the encoder (reading the model, encoding every
//! chunk and sentence) and without it (parsing the WordNet table) are timed apart.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use knowledge::{KnowledgeBase, KnowledgeConfig};
use vapi_types::{KnowledgeBaseRequest, OpenAiMessage};

const FILES: usize = 1_000;
const SECTIONS_PER_FILE: usize = 10;
const VOCABULARY: usize = 6_000;
const QUERIES: usize = 2_000;
const BASELINE_QUERIES: usize = 200;
const TOP_K: usize = 3;

fn main() {
    let load_all = |meaning: bool, what: &str| {
        let started = Instant::now();
        let folders: Vec<(String, KnowledgeBase)> = FOLDERS
            .into_iter()
            .map(|name| (name.to_owned(), load_folder(name, meaning)))
            .collect();
        println!(
            "{what} (dentist, library and hotel folders): {:.0} ms",
            ms(started.elapsed())
        );
        folders
    };
    let words_only = load_all(false, "first load in the process, words only");
    let folders = load_all(true, "load with the sentence encoder, words and meaning");
    let rounds = if std::env::args().any(|arg| arg == "--bench") {
        20
    } else {
        1
    };
    let questions = caller_questions();
    let ask = |folders: &[(String, KnowledgeBase)], (folder, question): &(String, String)| {
        let base = &folders.iter().find(|(name, _)| name == folder).unwrap().1;
        base.search(question, TOP_K).len()
    };
    // The two rankings take turns, question by question, so a busy moment of the machine hits both alike.
    let (mut words_latencies, mut meaning_latencies) = (Vec::new(), Vec::new());
    for question in questions.iter().cycle().take(rounds * questions.len()) {
        for (folders, latencies) in [(&words_only, &mut words_latencies), (&folders, &mut meaning_latencies)] {
            let started = Instant::now();
            black_box(ask(folders, question));
            latencies.push(started.elapsed());
        }
    }
    words_latencies.sort();
    meaning_latencies.sort();
    report("caller questions, words only", &words_latencies, words_latencies.len());
    report(
        "caller questions, words and meaning",
        &meaning_latencies,
        meaning_latencies.len(),
    );
    println!(
        "words and meaning p50 / words only p50: {:.2}",
        percentile(&meaning_latencies, 0.5).as_secs_f64() / percentile(&words_latencies, 0.5).as_secs_f64(),
    );

    let mut generator = Generator::new(0x5eed_cafe);
    let dir = tempfile::tempdir().unwrap();
    let mut chunks = Vec::with_capacity(FILES * SECTIONS_PER_FILE);
    for file in 0..FILES {
        let mut text = String::new();
        for _ in 0..SECTIONS_PER_FILE {
            let section = generator.section();
            let _ = write!(text, "{section}\n\n");
            chunks.push(section);
        }
        let folder = dir.path().join(format!("topic-{:02}", file % 20));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(format!("doc-{file:04}.md")), text).unwrap();
    }
    let queries: Vec<String> = (0..QUERIES).map(|_| generator.query()).collect();

    let config = KnowledgeConfig {
        dir: Some(dir.path().to_owned()),
        ..KnowledgeConfig::default()
    };
    let mut builds = Vec::new();
    let mut base = None;
    for _ in 0..3 {
        let started = Instant::now();
        base = Some(KnowledgeBase::load(config.clone()).unwrap());
        builds.push(started.elapsed());
    }
    let base = base.unwrap();
    assert_eq!(
        base.chunks(),
        FILES * SECTIONS_PER_FILE,
        "one chunk per generated section"
    );
    builds.sort();
    let started = Instant::now();
    base.reload().unwrap();
    let reload = started.elapsed();
    let bytes: usize = chunks.iter().map(String::len).sum();
    println!(
        "corpus: {} chunks, {:.1} MB, {} files; load (read + chunk + index) median of 3: {:.0} ms; reload: {:.0} ms",
        base.chunks(),
        bytes as f64 / 1e6,
        FILES,
        ms(builds[1]),
        ms(reload),
    );

    let baseline = SubstringScan::new(&chunks);
    let index_latencies = latencies(&queries, |query| base.search(query, TOP_K).len());
    let scan_latencies = latencies(&queries[..BASELINE_QUERIES], |query| {
        baseline.search(query, TOP_K).len()
    });
    let hit_rate = queries
        .iter()
        .filter(|query| !base.search(query, TOP_K).is_empty())
        .count() as f64
        / QUERIES as f64;
    report("bm25 index", &index_latencies, QUERIES);
    report("substring scan (baseline)", &scan_latencies, BASELINE_QUERIES);
    println!(
        "speed-up (baseline p50 / index p50): {:.0}x; queries with results: {:.0}%",
        percentile(&scan_latencies, 0.5).as_secs_f64() / percentile(&index_latencies, 0.5).as_secs_f64(),
        hit_rate * 100.0,
    );

    let requests: Vec<KnowledgeBaseRequest> = queries
        .iter()
        .take(100)
        .map(|query| KnowledgeBaseRequest {
            messages_openai_formatted: vec![
                OpenAiMessage {
                    role: "assistant".into(),
                    content: Some("How can I help?".into()),
                    ..Default::default()
                },
                OpenAiMessage {
                    role: "user".into(),
                    content: Some(query.clone()),
                    ..Default::default()
                },
            ],
            messages: Vec::new(),
        })
        .collect();

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("knowledge_10k_chunks");
    let mut next = 0;
    group.bench_function("bm25_search_top3", |b| {
        b.iter(|| {
            next = (next + 1) % queries.len();
            black_box(base.search(&queries[next], TOP_K))
        })
    });
    group.bench_function("answer_top3", |b| {
        b.iter(|| {
            next = (next + 1) % requests.len();
            black_box(base.answer(&requests[next], None))
        })
    });
    group.bench_function("substring_scan_top3_baseline", |b| {
        b.iter(|| {
            next = (next + 1) % queries.len();
            black_box(baseline.search(&queries[next], TOP_K))
        })
    });
    group.finish();

    let mut group = criterion.benchmark_group("caller_questions");
    for (name, folders) in [
        ("search_top3_words_only", &words_only),
        ("search_top3_words_and_meaning", &folders),
    ] {
        let mut next = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                next = (next + 1) % questions.len();
                black_box(ask(folders, &questions[next]))
            })
        });
    }
    group.finish();
    criterion.final_summary();
}

/// The folders of the development questions.
const FOLDERS: [&str; 3] = ["dentist", "library", "hotel"];

fn load_folder(name: &str, meaning: bool) -> KnowledgeBase {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let encoder = root.join("../../.models/all-MiniLM-L6-v2");
    let dir = match name {
        "library" => root.join("../../examples/knowledge"),
        other => root.join("eval").join(other),
    };
    KnowledgeBase::load(KnowledgeConfig {
        dir: Some(dir),
        encoder: meaning.then_some(encoder),
        ..KnowledgeConfig::default()
    })
    .unwrap()
}

/// `(folder, question)` of every development question.
fn caller_questions() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("eval");
    ["dev-a.jsonl", "dev-b.jsonl", "dev-c.jsonl"]
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            text.lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| {
                    let value: serde_json::Value = serde_json::from_str(line).unwrap();
                    (
                        value["folder"].as_str().unwrap().to_owned(),
                        value["question"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn latencies(queries: &[String], mut search: impl FnMut(&str) -> usize) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = queries
        .iter()
        .map(|query| {
            let started = Instant::now();
            black_box(search(query));
            started.elapsed()
        })
        .collect();
    latencies.sort();
    latencies
}

fn report(name: &str, latencies: &[Duration], count: usize) {
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!(
        "{name}: {count} queries, p50 {:.1} µs, p99 {:.1} µs, mean {:.1} µs",
        us(percentile(latencies, 0.5)),
        us(percentile(latencies, 0.99)),
        us(mean),
    );
}

fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * quantile).round() as usize]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn us(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// The baseline: no index, every query scans every chunk for each query word as a lowercase substring.
struct SubstringScan {
    chunks: Vec<String>,
}

impl SubstringScan {
    fn new(chunks: &[String]) -> SubstringScan {
        SubstringScan {
            chunks: chunks.iter().map(|chunk| chunk.to_lowercase()).collect(),
        }
    }

    fn search(&self, query: &str, top_k: usize) -> Vec<(usize, usize)> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        let mut best: Vec<(usize, usize)> = Vec::with_capacity(top_k + 1);
        for (index, chunk) in self.chunks.iter().enumerate() {
            let score = words.iter().filter(|word| chunk.contains(word.as_str())).count();
            if score > 0 && (best.len() < top_k || best.last().is_some_and(|last| score > last.0)) {
                best.push((score, index));
                best.sort_by_key(|&(score, _)| std::cmp::Reverse(score));
                best.truncate(top_k);
            }
        }
        best
    }
}

/// A seeded source of synthetic words, sections and queries.
struct Generator {
    state: u64,
    words: Vec<String>,
    /// Cumulative Zipf weights over `words`.
    cumulative: Vec<f64>,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        const ONSETS: &[&str] = &[
            "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "cl", "st",
            "tr", "sh", "ch",
        ];
        const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou", "ea"];
        const CODAS: &[&str] = &["", "n", "r", "s", "t", "l", "m", "nd", "st"];
        let mut generator = Generator {
            state: seed,
            words: Vec::new(),
            cumulative: Vec::new(),
        };
        let mut seen = HashSet::new();
        while generator.words.len() < VOCABULARY {
            let syllables = 2 + generator.below(2);
            let mut word = String::new();
            for _ in 0..syllables {
                word.push_str(ONSETS[generator.below(ONSETS.len())]);
                word.push_str(VOWELS[generator.below(VOWELS.len())]);
                word.push_str(CODAS[generator.below(CODAS.len())]);
            }
            if seen.insert(word.clone()) {
                generator.words.push(word);
            }
        }
        let mut total = 0.0;
        generator.cumulative = (0..VOCABULARY)
            .map(|rank| {
                total += 1.0 / (rank as f64 + 1.0);
                total
            })
            .collect();
        generator
    }

    fn next(&mut self) -> u64 {
        // splitmix64
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn zipf_word(&mut self) -> &str {
        let target = (self.next() >> 11) as f64 / (1u64 << 53) as f64 * self.cumulative[VOCABULARY - 1];
        let rank = self
            .cumulative
            .partition_point(|&weight| weight < target)
            .min(VOCABULARY - 1);
        &self.words[rank]
    }

    fn uniform_word(&mut self) -> &str {
        let rank = self.below(VOCABULARY);
        &self.words[rank]
    }

    /// `## two words`, a blank line, and a paragraph of 40 to 90 words in sentences.
    fn section(&mut self) -> String {
        let mut text = format!(
            "## {} {}\n\n",
            self.uniform_word().to_owned(),
            self.zipf_word().to_owned()
        );
        let words = 40 + self.below(51);
        for at in 0..words {
            let word = self.zipf_word().to_owned();
            text.push_str(&word);
            text.push_str(if at + 1 == words {
                "."
            } else if self.below(12) == 0 {
                ". "
            } else {
                " "
            });
        }
        text
    }

    /// Two to five words: half drawn like document text (Zipf), half uniformly (mostly rare words).
    fn query(&mut self) -> String {
        let count = 2 + self.below(4);
        (0..count)
            .map(|_| {
                if self.below(2) == 0 {
                    self.zipf_word().to_owned()
                } else {
                    self.uniform_word().to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}
