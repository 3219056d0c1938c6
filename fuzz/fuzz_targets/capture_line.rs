//! The capture-line reader: see [`pit_fuzz::capture_lines`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pit_fuzz::capture_lines(data));
