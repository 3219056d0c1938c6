//! The config loader: see [`pit_fuzz::config`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pit_fuzz::config(data));
