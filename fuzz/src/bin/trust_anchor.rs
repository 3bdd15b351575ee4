//! AFL++ entry point of the `trust_anchor` target (see `rootward_fuzz::trust_anchor`).
//! Build with `cargo afl build --release --features afl`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        rootward_fuzz::trust_anchor(data);
    });
}
