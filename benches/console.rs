//! Rendering a full console frame at 200x50 on ratatui's TestBackend (target: <= 2 ms).

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::hint::black_box;

fn full_frame(c: &mut Criterion) {
    let app = common::app();
    let mut term = match Terminal::new(TestBackend::new(200, 50)) {
        Ok(t) => t,
        Err(e) => match e {},
    };
    c.bench_function("console_full_frame_200x50", |b| {
        b.iter(|| {
            // Force a full redraw each time: the diff would otherwise skip unchanged cells.
            let _ = term.clear();
            let _ = term.draw(|f| pit::ui::render(black_box(&app), f));
        })
    });
}

criterion_group!(benches, full_frame);
criterion_main!(benches);
