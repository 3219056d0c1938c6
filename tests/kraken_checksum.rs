//! Kraken's checksum text on the shared capture (`../shared/captures/`): one price written
//! with extra trailing zeros must not poison every later checksum, and a snapshot that
//! fails its checksum must be recovered by the next one (live: one resubscription).

use pit::domain::{Instrument, InstrumentId, Qty};
use pit::record::{CaptureLine, CaptureReader, Direction};
use pit::venue::exchanges::decode::{FeedRequest, FrameDecoder};
use pit::venue::exchanges::kraken::KrakenDecoder;
use rust_decimal_macros::dec;
use std::path::PathBuf;

const KRAKEN: &str = "kraken-v2-btcusd-sample.jsonl";

fn capture() -> Option<Vec<CaptureLine>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = Vec::new();
    if let Ok(d) = std::env::var("PIT_CAPTURES_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(root.join("../shared/captures"));
    dirs.push(root.join("../../shared/captures"));
    let Some(path) = dirs
        .into_iter()
        .map(|d| d.join(KRAKEN))
        .find(|p| p.is_file())
    else {
        eprintln!("skipped: {KRAKEN} not found in ../shared/captures (set PIT_CAPTURES_DIR)");
        return None;
    };
    Some(CaptureReader::open(&path).expect("open capture").collect())
}

fn is_book(l: &CaptureLine, kind: &str) -> bool {
    l.dir == Direction::Recv
        && l.frame.contains(r#""channel":"book""#)
        && l.frame.contains(&format!(r#""type":"{kind}""#))
        && l.frame.contains(r#""price":"#)
}

/// Every `"price":N.D` in the frame written with `extra` more zeros.
fn pad_prices(frame: &str, extra: usize, only_first: bool) -> String {
    let mut out = String::with_capacity(frame.len() + 64);
    let mut rest = frame;
    let mut done = false;
    while let Some(p) = rest.find(r#""price":"#) {
        let start = p + r#""price":"#.len();
        let end = start + rest[start..].find([',', '}']).unwrap();
        out.push_str(&rest[..end]);
        if !(only_first && done) {
            out.push_str(&"0".repeat(extra));
            done = true;
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

struct Run {
    checked: u64,
    failed: u64,
    resyncs: u64,
    resubscribes: usize,
    trusted_at_end: bool,
}

fn run(lines: &[CaptureLine], configured: bool) -> Run {
    let mut d = if configured {
        let inst = Instrument::new(
            InstrumentId(0),
            "BTC/USD",
            "kraken",
            dec!(0.1),
            dec!(0.00000001),
            Qty(1),
        );
        KrakenDecoder::new(vec![inst], 25)
    } else {
        KrakenDecoder::discovering()
    };
    let mut out = Vec::new();
    let mut resubscribes = 0;
    for l in lines {
        d.on_line(l, &mut out);
        out.clear();
        resubscribes += d
            .requests()
            .iter()
            .filter(|r| matches!(r, FeedRequest::Send(s) if s.contains(r#""subscribe""#)))
            .count();
    }
    let st = d.stats()[0];
    Run {
        checked: st.checksums_checked,
        failed: st.checksums_failed,
        resyncs: st.resyncs,
        resubscribes,
        trusted_at_end: d.book(0).is_some(),
    }
}

#[test]
fn a_price_with_extra_trailing_zeros_does_not_poison_the_checksum() {
    let Some(mut lines) = capture() else { return };
    let clean = run(&lines, false);
    assert_eq!(clean.failed, 0);
    assert!(clean.checked > 2000, "{}", clean.checked);
    // One update early in the capture writes one price as 63381.00000.
    let k = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| is_book(l, "update"))
        .nth(5)
        .map(|(k, _)| k)
        .unwrap();
    lines[k].frame = pad_prices(&lines[k].frame, 4, true);
    assert_ne!(lines[k].frame, capture().unwrap()[k].frame);
    for configured in [false, true] {
        let r = run(&lines, configured);
        assert_eq!(
            (r.checked, r.failed, r.resyncs),
            (clean.checked, 0, 0),
            "configured {configured}: the same value, the same checksum"
        );
        assert!(r.trusted_at_end);
    }
}

#[test]
fn a_snapshot_written_all_wrong_fails_once_and_the_next_snapshot_recovers() {
    let Some(mut lines) = capture() else { return };
    let k = (0..lines.len())
        .find(|&k| is_book(&lines[k], "snapshot"))
        .expect("a snapshot");
    // Right after the snapshot, the same snapshot with every price carrying three extra
    // zeros (written so, its checksum text is not Kraken's: the precision is learned
    // from it, and it fails), then the resubscription's clean snapshot.
    let mut bad = lines[k].clone();
    bad.frame = pad_prices(&bad.frame, 3, false);
    let clean = lines[k].clone();
    lines.insert(k + 1, bad);
    lines.insert(k + 2, clean);
    let r = run(&lines, false);
    assert_eq!(r.failed, 1, "only the bad snapshot fails");
    assert_eq!(r.resyncs, 1);
    assert_eq!(r.resubscribes, 1, "one resubscription, no loop");
    assert!(r.trusted_at_end, "the next snapshot restored the book");
}
