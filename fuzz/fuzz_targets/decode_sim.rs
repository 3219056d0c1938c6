//! The simulated market's wire decoder (what replays of pit's own recordings read).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pit_fuzz::decoder("sim", data));
