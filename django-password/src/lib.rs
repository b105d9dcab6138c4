//! Django's `pbkdf2_sha256` password hashes, shared by the shop (verify) and the seeder (make): `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`.
//! Any iteration count verifies, as in Django, so hashes written by a team's Django (1,000,000
//! iterations on 5.2) and by our seeder both log in. Verification re-encodes and compares the whole
//! string in constant time, as Django's `verify()` does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use sha2::Sha256;

pub const ALGORITHM: &str = "pbkdf2_sha256";
/// Django 5.2's default.
pub const DJANGO_ITERATIONS: u32 = 1_000_000;
const SALT_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// `ceil(128 / log2(62))`: Django's salt length for 128 bits of entropy.
const SALT_LEN: usize = 22;

/// Encodes `password` the way `make_password` does with the given salt and iterations.
pub fn make(password: &str, salt: &str, iterations: u32) -> String {
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut derived,
    );
    format!(
        "{ALGORITHM}${iterations}${salt}${}",
        STANDARD.encode(derived)
    )
}

/// A fresh 22-character salt from Django's alphabet.
pub fn salt(rng: &mut impl Rng) -> String {
    (0..SALT_LEN)
        .map(|_| char::from(SALT_CHARS[rng.random_range(0..SALT_CHARS.len())]))
        .collect()
}

/// Whether `password` matches the stored `encoded` hash. Unusable (`!...`) and unknown hashes never
/// match.
pub fn verify(password: &str, encoded: &str) -> bool {
    let Some((iterations, salt)) = parse(encoded) else {
        return false;
    };
    constant_time_eq(
        make(password, salt, iterations).as_bytes(),
        encoded.as_bytes(),
    )
}

/// The iteration count and salt of a well-formed hash.
fn parse(encoded: &str) -> Option<(u32, &str)> {
    let mut parts = encoded.splitn(4, '$');
    let (algorithm, iterations, salt, hash) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if algorithm != ALGORITHM || salt.is_empty() || hash.is_empty() {
        return None;
    }
    let iterations: u32 = iterations.parse().ok()?;
    (iterations > 0).then_some((iterations, salt))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Django's algorithm (`django.utils.crypto.pbkdf2`, i.e. hashlib's `pbkdf2_hmac`) for
    /// "testpass123" with 1,000 iterations, computed in Python.
    const DJANGO_1000: &str =
        "pbkdf2_sha256$1000$lNn2IGuaIE9WDPRJPiZFlq$Fzd0ej9UDq2tdCX4tgUmjTM8CJf2vq2fv3YbOeuLq/o=";

    #[test]
    fn a_hash_made_by_djangos_algorithm_verifies() {
        assert!(verify("testpass123", DJANGO_1000));
        assert!(!verify("testpass124", DJANGO_1000));
    }

    #[test]
    fn malformed_and_unusable_hashes_never_verify() {
        for encoded in [
            "",
            "!unusable",
            "md5$1$salt$hash",
            "pbkdf2_sha256$0$salt$hash",
            "pbkdf2_sha256$abc$salt$hash",
            "pbkdf2_sha256$1000$$hash",
            "pbkdf2_sha256$1000$salt",
        ] {
            assert!(!verify("x", encoded), "{encoded}");
        }
    }

    #[test]
    fn salts_are_22_characters_of_djangos_alphabet() {
        let mut rng = rand::rng();
        let s = salt(&mut rng);
        assert_eq!(s.len(), 22);
        assert!(s.bytes().all(|b| SALT_CHARS.contains(&b)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn make_then_verify_round_trips(password in "\\PC{0,40}", salt in "[a-zA-Z0-9]{1,30}", iterations in 1u32..50) {
            let encoded = make(&password, &salt, iterations);
            prop_assert!(verify(&password, &encoded));
            let wrong = format!("{password}x");
            prop_assert!(!verify(&wrong, &encoded));
            prop_assert_eq!(encoded.rsplit('$').next().map(str::len), Some(44));
        }
    }
}
