//! Rebuilds this crate whenever the web app's build output changes, including when
//! `web/dist` first appears after a build without it: a release build embeds the
//! folder, and rust-embed alone only tracks the files it found the last time.

fn main() {
    // A directory is scanned recursively; a missing one makes the check run each build.
    println!("cargo:rerun-if-changed=../../web/dist");
}
