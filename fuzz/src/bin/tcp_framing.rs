//! AFL++ entry point of the `tcp_framing` target (see `rootward_fuzz::tcp_framing`).
//! Build with `cargo afl build --release --features afl`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        rootward_fuzz::tcp_framing(data);
    });
}
