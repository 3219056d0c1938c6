//! The kraken frame decoder: lines of frames in, the invariants of [`pit_fuzz::decoder`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pit_fuzz::decoder("kraken", data));
