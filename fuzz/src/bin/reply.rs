//! AFL++ entry point of the `reply` target (see `rootward_fuzz::reply`).
//! Build with `cargo afl build --release --features afl`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        rootward_fuzz::reply(data);
    });
}
