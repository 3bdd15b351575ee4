//! AFL++ entry point of the `request` target (see `rootward_fuzz::request`).
//! Build with `cargo afl build --release --features afl`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        rootward_fuzz::request(data);
    });
}
