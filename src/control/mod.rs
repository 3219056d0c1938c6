//! Controlling a running engine from another process: the control socket, which every run
//! listens on in its data folder (`protocol`: the versioned, length-framed messages; `server`: the socket and the
//! requests; `client`: the blocking client of `pit status`, `pit kill` ...; `status`:
//! what the socket tells about the engine).

pub mod client;
pub mod protocol;
pub mod server;
pub mod status;

/// The data folder of a store path: where the store, the control socket and the `HALT`
/// file live (`data/` for the default `data/pit.redb`).
pub fn data_dir(store_path: &std::path::Path) -> std::path::PathBuf {
    match store_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}
