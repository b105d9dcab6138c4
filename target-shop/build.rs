//! `sqlx::migrate!` embeds the migrations at compile time but cannot tell cargo about a new file:
//! without this, an added migration would be missing from an incremental build.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
