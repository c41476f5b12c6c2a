//! Decoding throughput of every fixture through `vapi_types::parse_body`, in bytes per second, next to a
//! baseline measured in the same run: `serde_json::from_slice::<serde::de::IgnoredAny>` (syntax check only,
//! the floor any parser must pay) and `serde_json::Value` (a full untyped parse).
//!
//! Run: `cargo bench --bench decode`.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vapi");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "json").then_some(path)
        })
        .map(|path| {
            let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            value.as_object_mut().unwrap().remove("_source");
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, serde_json::to_vec(&value).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, body) in fixtures() {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse_body", &name), &body, |b, body| {
            b.iter(|| vapi_types::parse_body(std::hint::black_box(body)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("baseline_value", &name), &body, |b, body| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(std::hint::black_box(body)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("baseline_syntax", &name), &body, |b, body| {
            b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(std::hint::black_box(body)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
